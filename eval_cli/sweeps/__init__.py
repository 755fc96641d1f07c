"""Sweeps of many classifiers: the manifest of the models to score (`manifest`), planned from the
installed timm registry, a models file or a Hub search (`plan`), one shard of it run into a
results tree that is the same whatever the number of shards (`shards`, `execute`), where each
model stands in that tree (`status`), and the SLURM job array that runs the shards (`slurm`).

How one model runs (resume, per-model failure, grouped decode, the decoded cache) is the
engine's; this folder decides which models run where, and reads what they left.

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.scores`,
`eval_cli.models`, `eval_cli.engine`.
"""
