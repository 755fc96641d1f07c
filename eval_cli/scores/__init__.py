"""Predictions scored: predictions files read and checked (`predictions`), aligned to labels by
file name and scored (`score`), the results document and its report (`results`), and the
results as a model card's model-index and pull request (`hub`).

May import: `metric`, `dataset_script`, `eval_cli.outputs`.
"""
