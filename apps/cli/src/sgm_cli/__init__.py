"""The sgm command line: `sgm sample | models | layout | inspect | detect` (see `sgm --help`)."""
