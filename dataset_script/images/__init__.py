"""Image sources: the official tar, folders of JPEGs and Hugging Face datasets, located by file
name, decoded to RGB and checked before a run.

Owns: `choose` (which source a ``--images`` argument names), `source` (what every source is),
`files` (tar and folders), `hf_datasets` (Hub and local datasets), `decode` (bytes to RGB, the
header check), `errors`. May import: `metric`, `dataset_script.classes`.
"""
