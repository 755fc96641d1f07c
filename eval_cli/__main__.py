"""`python -m eval_cli` (see `eval_cli.cli`)."""

import sys

from eval_cli.cli import main

sys.exit(main())
