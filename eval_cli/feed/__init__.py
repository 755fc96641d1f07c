"""The image feed: images read, decoded and preprocessed into the batches a model takes. The
loader and its feeds (`loader`), the preprocessing a model's own transforms reduce to
(`preprocess_plan`, `resample`), JPEG decoding on the device (`jpeg_decode`), images decoded once
per machine (`decoded_cache`, written by `decoded_cache_build`) and what identifies an image's
bytes (`fingerprint`). It knows nothing of models, runs or scores: the models build their plans
from it, the engine feeds them with it.

May import: `metric`, `dataset_script`, `eval_cli.outputs`.
"""
