"""`uv run apps/cli ...`: uv runs this directory, which runs the sgm command line."""

from sgm_cli.main import main

raise SystemExit(main())
