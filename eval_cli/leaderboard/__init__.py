"""Many models' results on one board: results files read as checked rows (`entries`), one result
per model, ranked (`ranking`), the paper's reference lines (`paper_references`), the table in
each format (`table`), the plots as files and what the page shares with them (`plots`): the
paper's two (`accuracy_plots`), the mistakes stacked by automatic category (`category_bars`) and
the texts they share (`plot_texts`); the page to browse them (`html`), each model's family and
pretraining data (`families`), and the command writing them all (`board`).

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.scores`, `eval_cli.analysis`
(the pages' shared script and data block).
"""
