"""The Hub as this layer talks to it: repository ids, the published dataset's names, pushing the
built dataset and the metric's Space.

Owns: `access` (PushError, the token check, Hub errors as messages), `ids` (the one id check),
`names` (the published dataset's name, configs and tasks), `push_dataset`, `push_metric`, `files`
(many small files in batched commits, a filtered snapshot downloaded).
May import: `metric`, `dataset_script` (`dataset_rows`, for what a push uploads).
"""
