import sys

from sgm_train_app.cli import main

sys.exit(main())
