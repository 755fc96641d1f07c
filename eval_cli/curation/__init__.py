"""Curation across models, as the paper did: ``compare`` (`compare`, its inputs in `inputs`,
aligned once in `aligned`, the novel-prediction queue in `novel_queue`, the counts of mistakes
solved and shared in `solved`, its files in `report`, its review page in `queue_page`) and
``patches merge`` (`merge`).

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.scores`,
`eval_cli.analysis`.
"""
