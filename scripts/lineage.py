"""Rule lineage: for every artifact of the scale, the rule, params, inputs (hashed), models and code
that made it, and its cost from the benchmark files (expanse/lineage.py).

snakemake -c1 results/tiny/eval/lineage.json
"""

from expanse.logs import run_script


def main(smk):
    from pathlib import Path

    from expanse.io import write_json
    from expanse.lineage import collect, hash_cache

    root = Path.cwd()
    # the graph of exactly this job's inputs, as Snakemake plans it
    lineage = collect(root, smk.params.scale, cache=hash_cache(root, smk.params.scale), targets=list(smk.input))
    write_json(lineage, smk.output.lineage, contract="lineage")
    total = lineage["summary"]["total"]
    print(
        f"{lineage['n_artifacts']} artifacts from {lineage['n_jobs']} jobs; wall {total['wall_h']:.3f} h, "
        f"GPU {total['gpu_hours']:.3f} h (planned {total['planned_gpu_hours']:.1f} h)"
    )


run_script(main, snakemake)  # noqa: F821
