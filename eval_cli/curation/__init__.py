"""Curation across models, as the paper did: ``compare`` (`compare`, its inputs in `inputs`, its
files in `report`, its review page in `queue_page`) and ``patches merge`` (`merge`).

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.scores`,
`eval_cli.analysis`.
"""
