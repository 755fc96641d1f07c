"""Predictions scored: predictions files read and checked (`predictions`), aligned to labels by
file name and scored (`score`), the results document and its report (`results`), the results as
a model card's model-index and pull request (`hub`), and many results as one Hub dataset
(`results_dataset`, `push_results`).

May import: `metric`, `dataset_script`, `eval_cli.outputs`.
"""
