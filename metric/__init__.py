"""The ``evaluate`` module and its scoring core.

``PATH`` is the module file, for ``evaluate.load(PATH)`` from any working directory.
"""

from pathlib import Path

PATH = str(Path(__file__).resolve().with_name("imagenet_multilabel.py"))
