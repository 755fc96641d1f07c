"""The run engine: models run over images on one or many processes, resumably. Options
(`run_options`), the launch and per-model loop (`launch`, `run`, `sweep`, `predict_loop`), resume
(`resume`) and the accelerate/torchrun side (`distributed`). The images reach the models through
`eval_cli.feed`.

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.choices`, `eval_cli.frame`,
`eval_cli.scores`, `eval_cli.feed`, `eval_cli.models`.
"""
