"""The eval report: results/{scale}/eval/report.html (self-contained: inline CSS, images as data
URIs) and report.md (images beside it in plots/), the JSON metrics and CSV tables DVC shows and
plots, from the per-language win-rates, the lm-eval results, the arbitrage summary and the
training metrics, and the lineage and cost of every artifact. Same inputs, same bytes, except the
lineage section, which holds measured times."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from expanse.evaluation import plots
from expanse.io import read_json, write_json, write_text

PLOTS = {
    "winrates": "Win-rate of the merged model per language (95% bootstrap intervals)",
    "accuracy": "Benchmark accuracy per language and model (lm-eval)",
    "teacher_wins": "Arbitrage: share of each language's prompts won by each teacher",
    "training": "Training loss of each family, stage after stage",
    "merge_deltas": "Merged model minus the language's own family model (benchmark accuracy)",
}
LEAD = ("base", "own_family", "best_teacher")  # the opponents' column order; teachers follow by name


def gather(
    *,
    winrate_paths,
    benchmark_paths,
    arbitrage_path,
    training_path,
    metrics: list[tuple[str, str, str]],
    family_of: dict,
    families: list[str],
    models: list[str],
    lineage_path=None,
    routing_paths=(),
    merge_search_paths=(),
) -> dict:
    """Everything the report shows, as plain data (also the source of metrics.json)."""
    winrates = [read_json(p, "winrates") for p in winrate_paths]
    found = {label for w in winrates for label in w["opponents"]}
    labels = [x for x in LEAD if x in found] + sorted(found - set(LEAD))
    rows = [
        {"lang": w["lang"], "family": family_of[w["lang"]], "opponent": label, **o}
        for w in winrates
        for label, o in w["opponents"].items()
    ]
    acc: dict[str, dict[str, dict[str, float]]] = {}
    for p in benchmark_paths:
        b = read_json(p, "benchmark")
        acc.setdefault(b["benchmark"], {})[b["model"]] = {lang: r["value"] for lang, r in b["languages"].items()}
    acc = {bench: {m: per_model[m] for m in models if m in per_model} for bench, per_model in acc.items()}
    arbitrage = read_json(arbitrage_path, "arbitrage_summary")["languages"]
    teachers = sorted({t for a in arbitrage.values() for t in a["wins"]})
    curves: dict[str, dict[str, list]] = {f: {} for f in families}
    for family, stage, p in metrics:
        train = read_json(p, "training_metrics")["train"]
        curves[family][stage] = [(r["step"], r["loss"]) for r in train if "loss" in r]
    training = read_json(training_path, "training_summary")
    deltas = {
        bench: {
            lang: round(per_model["merged"][lang] - per_model[f"family.{family_of[lang]}"][lang], 6)
            for lang in per_model.get("merged", {})
            if lang in per_model.get(f"family.{family_of[lang]}", {})
        }
        for bench, per_model in acc.items()
    }
    return {
        "labels": labels,
        "winrates": rows,
        "accuracy": acc,
        "arbitrage": arbitrage,
        "teachers": teachers,
        "curves": curves,
        "training": training,
        "deltas": deltas,
        "judge": winrates[0]["judge"] if winrates else None,
        "lineage": lineage_summary(read_json(lineage_path, "lineage")) if lineage_path else None,
        "routing": {r["lang"]: r for r in (read_json(p, "routing") for p in routing_paths)},
        "merge_search": read_json(merge_search_paths[0], "merge_search") if merge_search_paths else None,
    }


def lineage_summary(lineage: dict) -> dict:
    """What the report shows of lineage.json: the code version, the models, the cost summary."""
    models: dict[tuple, int] = {}
    for job in lineage["jobs"].values():
        for m in job["models"]:
            key = (m["hf"], m["revision"]) if "hf" in m else (m["path"], (m["sha256"] or "")[:12])
            models[key] = models.get(key, 0) + 1
    return {
        "code": lineage["code"],
        "n_jobs": lineage["n_jobs"],
        "n_artifacts": lineage["n_artifacts"],
        "models": [[name, version, n] for (name, version), n in sorted(models.items())],
        "summary": lineage["summary"],
    }


def _mean(xs) -> float | None:
    xs = list(xs)
    return round(sum(xs) / len(xs), 6) if xs else None


def metrics(data: dict) -> dict:
    """Numbers DVC can show and diff: win-rates per opponent, accuracy per benchmark and model."""
    out: dict = {"winrate": {}, "accuracy": {}}
    for label in data["labels"]:
        per_lang = {r["lang"]: r["win_rate"] for r in data["winrates"] if r["opponent"] == label}
        out["winrate"][label] = {"mean": _mean(per_lang.values()), **dict(sorted(per_lang.items()))}
    for bench, per_model in data["accuracy"].items():
        out["accuracy"][bench] = {
            m: {"mean": _mean(v.values()), **dict(sorted(v.items()))} for m, v in per_model.items()
        }
    return out


def csv_tables(data: dict) -> tuple[str, str]:
    win = ["lang,family,opponent,opponent_model,win_rate,ci_low,ci_high,n_prompts"]
    win += [
        f"{r['lang']},{r['family']},{r['opponent']},{r['model']},{r['win_rate']},{r['ci_low']},{r['ci_high']},"
        f"{r['n_prompts']}"
        for r in sorted(data["winrates"], key=lambda r: (r["lang"], r["opponent"]))
    ]
    acc = ["benchmark,model,lang,accuracy"]
    acc += [
        f"{bench},{model},{lang},{v}"
        for bench, per_model in data["accuracy"].items()
        for model, per_lang in per_model.items()
        for lang, v in sorted(per_lang.items())
    ]
    return "\n".join(win) + "\n", "\n".join(acc) + "\n"


# ------------------------------------------------------------------------------------ tables
def _fmt(v, digits=3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def tables(data: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for every table of the report, in order."""
    out = []
    labels, rows = data["labels"], data["winrates"]
    summary = []
    for label in labels:
        mine = [r for r in rows if r["opponent"] == label]
        summary.append(
            [
                label,
                _fmt(_mean(r["win_rate"] for r in mine)),
                str(sum(r["ci_low"] > 0.5 for r in mine)),
                str(sum(r["ci_high"] < 0.5 for r in mine)),
                str(len(mine)),
            ]
        )
    out.append(
        (
            "Merged model: mean win-rate over languages",
            ["opponent", "mean win-rate", "languages won (CI > 0.5)", "languages lost (CI < 0.5)", "languages"],
            summary,
        )
    )
    per_lang = []
    for lang in sorted({r["lang"] for r in rows}):
        mine = {r["opponent"]: r for r in rows if r["lang"] == lang}
        cells = [lang, mine[labels[0]]["family"]]
        for label in labels:
            r = mine.get(label)
            cells.append(
                "–"
                if r is None
                else f"{r['win_rate']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
                + (f" ({r['model'].split('.', 1)[-1]})" if label == "best_teacher" else "")
            )
        per_lang.append(cells)
    out.append(("Win-rate of the merged model per language [95% CI]", ["lang", "family", *labels], per_lang))
    for bench, per_model in data["accuracy"].items():
        models = list(per_model)
        langs = sorted({lang for v in per_model.values() for lang in v})
        body = [[lang, *(_fmt(per_model[m].get(lang)) for m in models)] for lang in langs]
        body.append(["mean", *(_fmt(_mean(per_model[m].values())) for m in models)])
        out.append((f"{bench}: accuracy per language", ["lang", *models], body))
    if data["deltas"]:
        langs = sorted({lang for v in data["deltas"].values() for lang in v})
        body = [[lang, *(_fmt(data["deltas"][b].get(lang), 3) for b in data["deltas"])] for lang in langs]
        out.append(("Merged minus own family model (accuracy)", ["lang", *data["deltas"]], body))
    teachers = data["teachers"]
    body = [
        [lang, str(a["n_prompts"]), *(str(a["wins"].get(t, 0)) for t in teachers), a.get("top_teacher") or "–"]
        for lang, a in sorted(data["arbitrage"].items())
    ]
    out.append(("Arbitrage: prompts won per teacher", ["lang", "prompts", *teachers, "top teacher"], body))
    if data.get("routing"):
        body = [
            [
                lang,
                f"{r['n_probe']} of {r['n_prompts']}",
                *(f"{r['teachers'][t]['probe_win_rate']:.2f}" if t in r["teachers"] else "–" for t in teachers),
                ", ".join(r["selected"]),
                f"{r['generations']} of {r['generations_all']}",
                f"{100 * r['saved_fraction']:.1f}%",
                _fmt(data["arbitrage"].get(lang, {}).get("selected_mean_score")),
            ]
            for lang, r in sorted(data["routing"].items())
        ]
        made, every = (sum(r[k] for r in data["routing"].values()) for k in ("generations", "generations_all"))
        body.append(
            [
                "all",
                "",
                *("" for _ in teachers),
                "",
                f"{made} of {every}",
                f"{100 * (1 - made / every):.1f}%" if every else "–",
                "",
            ]
        )
        out.append(
            (
                "Arbitrage routing: probe win-rates, the teachers chosen for the rest, generations saved",
                [
                    "lang",
                    "probe prompts",
                    *(f"{t} probe win-rate" for t in teachers),
                    "selected",
                    "generations",
                    "saved",
                    "SFT set mean score",
                ],
                body,
            )
        )
    body = []
    for family, t in data["training"].items():
        stages = t["stages"]
        sft, dpo = stages.get("sft", {}), stages.get("dpo", {})
        online = " → ".join(
            _fmt(v.get("dev", {}).get("mean_score"))
            for _, v in sorted(t["online_samples"].items(), key=lambda kv: int(kv[0][2:]))
        )
        body.append(
            [
                family,
                ", ".join(t["languages"]),
                f"{_fmt(sft.get('dev_before', {}).get('loss'))} → {_fmt(sft.get('dev_after', {}).get('loss'))}",
                f"{_fmt(dpo.get('dev_before', {}).get('rewards/margins'))} → "
                f"{_fmt(dpo.get('dev_after', {}).get('rewards/margins'))}",
                online or "–",
            ]
        )
    out.append(
        (
            "Training per family (held-out dev data)",
            [
                "family",
                "languages",
                "SFT loss",
                "DPO reward margin",
                "online: arbiter mean score of own samples per iteration",
            ],
            body,
        )
    )
    search = data.get("merge_search")
    if search:
        fams = search["families"]
        body = [
            [
                str(c["index"]),
                c["note"],
                *(f"{c['weights'][f]:.3f}" for f in fams),
                _fmt(c["objective"]),
                f"{c['worst_language']} {c['worst_delta']:+.3f}",
                "yes" if c["feasible"] else "no",
                "✓" if c["index"] == search["chosen"]["index"] else "",
            ]
            for c in search["candidates"]
        ]
        out.append(
            (
                f"Merge-weight search ({search['method']}, {len(search['candidates'])} candidates, floor: no "
                f"language more than {search['max_language_drop']} below the hand-set weights)",
                ["#", "candidate", *fams, "mean dev score", "worst language vs hand-set", "above floor", "chosen"],
                body,
            )
        )
    return out


COST_HEADER = ["jobs", "measured", "wall h", "CPU h", "GPU h", "planned GPU h", "peak RSS GB"]


def _cost_row(t: dict) -> list[str]:
    return [
        str(t["jobs"]),
        str(t["measured_jobs"]),
        _fmt(t["wall_h"]),
        _fmt(t["cpu_h"]),
        _fmt(t["gpu_hours"]),
        _fmt(t["planned_gpu_hours"], 1),
        _fmt(t["max_rss_mb"] / 1024, 2),
    ]


def lineage_tables(data: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """The lineage and cost tables. Unlike the rest of the report they hold measured times, so they
    differ from run to run (the page keeps them in one section, id 'lineage')."""
    lin = data.get("lineage")
    if not lin:
        return []
    s = lin["summary"]
    phases = sorted(s["phases"].items(), key=lambda kv: (-kv[1]["gpu_hours"], -kv[1]["wall_h"], kv[0]))
    out = [
        (
            "Cost per phase",
            ["phase", *COST_HEADER],
            [[p, *_cost_row(t)] for p, t in phases] + [["total", *_cost_row(s["total"])]],
        ),
        (
            "Cost per family (its languages' jobs included)",
            ["family", *COST_HEADER],
            [[f, *_cost_row(t)] for f, t in s["families"].items()],
        ),
        ("Cost per language", ["lang", *COST_HEADER], [[lang, *_cost_row(t)] for lang, t in s["languages"].items()]),
        (
            "Most expensive jobs",
            ["job", "wall s", "CPU s", "peak RSS MB", "GPUs", "GPU h", "planned GPU h"],
            [
                [
                    j["job"],
                    _fmt(j["wall_s"], 1),
                    _fmt(j["cpu_s"], 1),
                    _fmt(j["max_rss_mb"], 0),
                    str(j["gpus"]),
                    _fmt(j["gpu_hours"]),
                    _fmt(j["planned_gpu_hours"], 1),
                ]
                for j in s["top_jobs"]
            ],
        ),
        (
            "Models used",
            ["model (hub ID or local checkpoint)", "revision or sha256", "jobs"],
            [[name, version, str(n)] for name, version, n in lin["models"]],
        ),
    ]
    return out


def _lineage_intro(data: dict) -> str:
    lin = data["lineage"]
    code = lin["code"]
    version = (
        f"git commit `{code['commit']}`" + (" with uncommitted changes" if code["dirty"] else "")
        if code["commit"]
        else "no git commit (not a git checkout)"
    )
    return (
        f"{lin['n_artifacts']} artifacts from {lin['n_jobs']} jobs, code {version}, Snakemake {code['snakemake']}. "
        "Costs come from each job's benchmark file (jobs without one are not measured); GPU hours are wall "
        "time times the GPUs requested, planned GPU hours the resources table's runtime times GPUs. Every "
        "artifact's rule, params, hashed inputs and models are in lineage.json."
    )


# ------------------------------------------------------------------------------------ writers
def _intro(scale: str, data: dict) -> str:
    n_langs = len({r["lang"] for r in data["winrates"]})
    routing = (
        "learned: every teacher answered a probe sample of each language's prompts and the probe's "
        "winners answered the rest"
        if data.get("routing")
        else "all: every teacher answered every prompt"
    )
    search = data.get("merge_search")
    merge = (
        f"the weights the merge search chose (candidate {search['chosen']['index']}, "
        f"{search['chosen']['gain_over_hand_set']:+.3f} mean dev score over the hand-set weights)"
        if search
        else "the hand-set family weights"
    )
    return (
        f"Scale `{scale}`: {n_langs} languages, judge `{data['judge']}` (each pair judged in both orders, "
        "ties count ½), benchmarks through lm-evaluation-harness. The best teacher of a language is the one "
        f"that won most of its arbitrage prompts. Arbitrage routing {routing}. The merged model uses {merge}."
    )


def _md_table(title: str, header: list[str], body: list[list[str]], level: int = 2) -> list[str]:
    return [
        f"{'#' * level} {title}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in body),
        "",
    ]


def markdown(scale: str, data: dict, plot_dir_name: str) -> str:
    lines = [f"# expanse eval report: {scale}", "", _intro(scale, data), ""]
    for title, header, body in tables(data):
        lines += _md_table(title, header, body)
    lines.append("## Figures")
    lines.append("")
    for name, caption in PLOTS.items():
        lines += [f"![{caption}]({plot_dir_name}/{name}.png)", "", f"*{caption}*", ""]
    if data.get("lineage"):
        lines += ["## Lineage and cost", "", _lineage_intro(data), ""]
        for title, header, body in lineage_tables(data):
            lines += _md_table(title, header, body, level=3)
    return "\n".join(lines)


CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}figure{margin:1em 0 2em}
img{max-width:100%}figcaption{font-style:italic;color:#555}code{background:#f4f4f4;padding:0 3px}"""


def _html_table(title: str, header: list[str], body: list[list[str]], level: int = 2) -> str:
    return (
        f"<h{level}>{html.escape(title)}</h{level}><table><thead><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in header)
        + "</tr></thead><tbody>\n"
        + "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
        + "\n</tbody></table>"
    )


def page(scale: str, data: dict, plot_dir: Path) -> str:
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>expanse eval report: {scale}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>expanse eval report: {html.escape(scale)}</h1>",
        "<p>" + html.escape(_intro(scale, data)).replace("`", "") + "</p>",
    ]
    for title, header, body in tables(data):
        parts.append(_html_table(title, header, body))
    parts.append("<h2>Figures</h2>")
    for name, caption in PLOTS.items():
        data_uri = base64.b64encode((plot_dir / f"{name}.png").read_bytes()).decode("ascii")
        parts.append(
            f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data_uri}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    if data.get("lineage"):
        parts.append(
            "<section id='lineage'><h2>Lineage and cost</h2><p>"
            + html.escape(_lineage_intro(data)).replace("`", "")
            + "</p>"
        )
        for title, header, body in lineage_tables(data):
            parts.append(_html_table(title, header, body, level=3))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def draw(data: dict, plot_dir: Path) -> None:
    plot_dir.mkdir(parents=True, exist_ok=True)
    plots.winrates(data["winrates"], data["labels"], plot_dir / "winrates.png")
    plots.accuracy(data["accuracy"], plot_dir / "accuracy.png")
    langs = sorted(data["arbitrage"])
    matrix = [
        [
            data["arbitrage"][lang]["wins"].get(t, 0) / max(1, data["arbitrage"][lang]["n_prompts"])
            for t in data["teachers"]
        ]
        for lang in langs
    ]
    plots.teacher_wins(matrix, langs, data["teachers"], plot_dir / "teacher_wins.png")
    plots.training(data["curves"], plot_dir / "training.png")
    plots.merge_deltas(data["deltas"], plot_dir / "merge_deltas.png")


def write_report(
    *,
    scale: str,
    out_html: str,
    out_md: str,
    out_metrics: str,
    out_winrates: str,
    out_accuracy: str,
    out_plots: str,
    **inputs,
) -> dict:
    from expanse.io import atomic_path

    data = gather(**inputs)
    with atomic_path(out_plots, directory=True) as tmp:
        draw(data, tmp)
    plot_dir = Path(out_plots)
    win_csv, acc_csv = csv_tables(data)
    write_text(win_csv, out_winrates)
    write_text(acc_csv, out_accuracy)
    write_json(metrics(data), out_metrics, contract="report_metrics")
    write_text(markdown(scale, data, plot_dir.name), out_md)
    write_text(page(scale, data, plot_dir), out_html)
    return data
