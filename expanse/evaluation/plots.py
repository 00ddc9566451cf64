"""The report's figures (matplotlib, Agg, no timestamps in the PNGs so reruns are byte-identical)."""

from __future__ import annotations

from pathlib import Path

PNG_METADATA = {"Software": None}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def _save(fig, path: Path) -> None:
    from expanse.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata=PNG_METADATA, bbox_inches="tight")
    _plt().close(fig)  # clf() alone keeps the figure registered with pyplot


def winrates(rows: list[dict], labels: list[str], path: Path) -> None:
    """Win-rate of the merged model per language against each opponent label, with 95% intervals."""
    plt = _plt()
    langs = sorted({r["lang"] for r in rows})
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(langs) * len(labels) / 2), 3.6))
    width = 0.8 / len(labels)
    for k, label in enumerate(labels):
        by_lang = {r["lang"]: r for r in rows if r["opponent"] == label}
        xs = [i + (k - (len(labels) - 1) / 2) * width for i, lang in enumerate(langs) if lang in by_lang]
        ys = [by_lang[lang]["win_rate"] for lang in langs if lang in by_lang]
        lo = [by_lang[lang]["win_rate"] - by_lang[lang]["ci_low"] for lang in langs if lang in by_lang]
        hi = [by_lang[lang]["ci_high"] - by_lang[lang]["win_rate"] for lang in langs if lang in by_lang]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", ms=4, capsize=2, label=f"vs {label}")
    ax.axhline(0.5, color="black", lw=0.8)
    ax.set_xticks(range(len(langs)), langs)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("merged win-rate (ties ½)")
    ax.legend(ncol=len(labels), loc="upper center", bbox_to_anchor=(0.5, 1.18), frameon=False)
    _save(fig, path)


def accuracy(acc: dict, path: Path) -> None:
    """acc: benchmark -> model -> lang -> value; one panel per benchmark."""
    plt = _plt()
    benches = list(acc)
    fig, axes = plt.subplots(len(benches), 1, figsize=(9, 2.8 * len(benches)), squeeze=False)
    for ax, bench in zip(axes[:, 0], benches):
        langs = sorted({lang for per_model in acc[bench].values() for lang in per_model})
        for model, per_lang in acc[bench].items():
            ax.plot(
                [langs.index(lang) for lang in per_lang],
                list(per_lang.values()),
                marker="o",
                ms=3,
                lw=1.5 if model == "merged" else 0.8,
                label=model,
            )
        ax.set_xticks(range(len(langs)), langs)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(bench)
        ax.set_ylabel("accuracy")
    axes[0, 0].legend(ncol=4, fontsize=7, loc="upper right")
    fig.subplots_adjust(hspace=0.45)
    _save(fig, path)


def teacher_wins(matrix: list[list[float]], langs: list[str], teachers: list[str], path: Path) -> None:
    """Share of a language's arbitrage prompts each teacher won."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(teachers), 0.8 + 0.28 * len(langs)))
    im = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(teachers)), teachers)
    ax.set_yticks(range(len(langs)), langs)
    ax.grid(False)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.6 else "black")
    fig.colorbar(im, ax=ax, label="share of prompts won")
    _save(fig, path)


def training(curves: dict, path: Path) -> None:
    """curves: family -> stage -> [(step, loss)]; one panel per family, stages one after another."""
    plt = _plt()
    families = list(curves)
    fig, axes = plt.subplots(1, len(families), figsize=(3.2 * len(families), 2.8), squeeze=False)
    for ax, family in zip(axes[0], families):
        offset = 0
        for stage, points in curves[family].items():
            if not points:
                continue
            ax.plot([offset + s for s, _ in points], [v for _, v in points], lw=1, label=stage)
            offset += points[-1][0]
        ax.set_title(family)
        ax.set_xlabel("step (stages in order)")
    axes[0, 0].set_ylabel("training loss")
    axes[0, 0].legend(fontsize=6)
    _save(fig, path)


def merge_deltas(deltas: dict, path: Path) -> None:
    """deltas: benchmark -> lang -> merged minus own-family accuracy."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3))
    langs = sorted({lang for per_lang in deltas.values() for lang in per_lang})
    width = 0.8 / max(1, len(deltas))
    for k, (bench, per_lang) in enumerate(deltas.items()):
        xs = [langs.index(lang) + (k - (len(deltas) - 1) / 2) * width for lang in per_lang]
        ax.bar(xs, list(per_lang.values()), width=width, label=bench)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(langs)), langs)
    ax.set_ylabel("merged − own family (accuracy)")
    ax.legend(fontsize=7)
    _save(fig, path)
