"""The eval stage: per-language pairwise win-rates with a judge (`winrate`, `judges`, `pairwise`),
benchmarks through lm-evaluation-harness (`benchmarks`), and the report (`report`)."""
