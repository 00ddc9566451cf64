"""Training: trl SFT and DPO (offline, and online iterative) per language family.

- `data`: a family's rows from its per-language files, split by the prompts' split
- `trainers`: the trl trainers, resumable, run by `python -m expanse.training SPEC`
- `launch`: the launch command from the rule's resources (one process, accelerate, srun)
- `resume`: the resume directory, its fingerprint and the last complete checkpoint
- `jobs`: the spec of a job, built from a rule's inputs and params
"""
