"""Many models' results on one board: results files read as checked rows (`entries`), one result
per model and the table (`board`), the plots as files and what the page shares with them
(`plots`): the paper's two (`accuracy_plots`), the mistakes stacked by automatic category
(`category_bars`) and the texts they share (`plot_texts`); the page to browse them (`html`) and
each model's family and pretraining data (`families`).

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.scores`, `eval_cli.analysis`
(the pages' shared script and data block).
"""
