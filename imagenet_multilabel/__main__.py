"""``python -m imagenet_multilabel``, the form launchers use (``accelerate launch -m ...``)."""

import sys

from .eval_cli.commands.cli import main

sys.exit(main())
