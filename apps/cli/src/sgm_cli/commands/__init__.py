"""One module per subcommand, each with `add_parser(subparsers)`; the parser's `run(args)` does the work."""
