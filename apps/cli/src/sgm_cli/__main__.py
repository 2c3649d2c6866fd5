"""`python -m sgm_cli ...`."""

from sgm_cli.main import main

raise SystemExit(main())
