"""Many models' results on one board: results files read as checked rows (`entries`), one result
per model and the table (`board`), the paper's plots (`plots`), the page to browse them (`html`)
and each model's family and pretraining data (`families`).

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.scores`, `eval_cli.analysis`
(the pages' shared script and data block).
"""
