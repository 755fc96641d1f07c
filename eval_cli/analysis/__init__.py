"""One model's mistakes to read and review: the ``analyze`` command's folder (`analyze`: results,
``mistakes.jsonl``) and the static review page (`review` with ``review_assets/``). The mistake
analysis itself is part of scoring (`eval_cli.scores.mistakes`), made in the same pass.

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.scores`.
"""
