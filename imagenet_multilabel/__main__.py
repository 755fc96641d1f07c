"""``python -m imagenet_multilabel``, the form launchers use (``accelerate launch -m ...``)."""

import sys

from imagenet_multilabel.eval_cli.cli import main

sys.exit(main())
