"""Predictions scored: predictions files read and checked once (`predictions`, its values'
columns in `prediction_values`), aligned to labels by file name and scored (`score`), their
mistakes analysed (`mistakes`), the results document written and read back checked
(`results_document`), how it is judged and shown and the printed report (`results`), a document as
the public sees it (`model_card`: the card's results section, the public copy), the results as
Hub metadata in one pull request (`hub`), and many results as one Hub dataset (`results_dataset`,
`push_results`).

May import: `metric`, `dataset_script`, `eval_cli.outputs`.
"""
