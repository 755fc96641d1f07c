"""The multi-label labels scored against, with their provenance: the annotation file or a labels
dataset, label patches and their consensus (the other label sets: `dataset_script.label_sets`).

Owns: `loading` (`Labels`, `LabelSource`, `load_labels`), `dataset` (labels from a built or
published labels dataset, proven against the annotation file), `patches` (label patches applied
in memory), `consensus` (several reviewers' patches merged).
May import: `metric`, `dataset_script.annotations`, `dataset_script.classes`,
`dataset_script.taxonomy`, `dataset_script.dataset_rows` (the labels dataset's layout).
"""
