"""`python -m unmo_cli` runs the CLI."""

from unmo_cli.cli import main

main()
