"""`uv run apps/train ...`: Python runs this folder, which hands over to the installed sgm_train_app."""

import sys

from sgm_train_app.cli import main

sys.exit(main())
