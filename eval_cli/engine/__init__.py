"""The run engine: models run over images on one or many processes, resumably. Options
(`run_options`), the launch and per-model loop (`launch`, `run`, `sweep`, `predict_loop`), the
data feed (`loader`, `preprocess_plan`, `resample`, `jpeg_decode`, and `decoded_cache`: images
decoded once per machine), resume (`resume`) and the accelerate/torchrun side (`distributed`).

May import: `metric`, `dataset_script`, `eval_cli.outputs`, `eval_cli.scores`,
`eval_cli.models`.
"""
