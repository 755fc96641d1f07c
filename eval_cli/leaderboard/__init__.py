"""Many models' results on one board: results files read as checked rows (`entries`), one result
per model and the table (`board`), and the paper's plots (`plots`).

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.scores`.
"""
