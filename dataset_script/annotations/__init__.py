"""The published annotation file (``human_accuracy_v3.0.0.json``): located or downloaded once,
verified against its sha256, parsed into arrays and cached compactly.

Owns: `published` (locating and verifying the file, the splits), `download` (one locked,
resumable, checksum-verified download), `parse` (the JSON validated into arrays), `cache` (the
compact ``.npz`` cache). May import: `metric`, `dataset_script.classes`.
"""
