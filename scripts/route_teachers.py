"""Rule route_teachers: a language's probe wins choose its top_k teachers (learned routing).

snakemake -c1 results/tiny/routing/fr.json
"""

from expanse.logs import run_script


def main(smk):
    from expanse.arbitrage import run_routing

    p = smk.params
    decision = run_routing(
        list(smk.input.scores),
        smk.input.prompts,
        smk.output.routing,
        lang=smk.wildcards.lang,
        teachers=list(p.teachers),
        top_k=p.top_k,
        probe=dict(p.probe),
        seed=p.seed,
    )
    print(f"selected {decision['selected']}; {decision['generations']} of {decision['generations_all']} generations")


run_script(main, snakemake)  # noqa: F821
