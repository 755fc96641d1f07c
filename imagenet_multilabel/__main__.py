"""``python -m imagenet_multilabel``, the form launchers use (``accelerate launch -m ...``)."""

import sys

from imagenet_multilabel.cli import main

sys.exit(main())
