"""One model's mistakes: each rejected top-1 prediction as a `mistakes.jsonl` row (`mistakes`),
the ``analyze`` command's folder (`analyze`) and the static review page (`review` with
``review_assets/``).

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.scores`.
"""
