"""The domain layer: plain functions over typed inputs and results. No Typer, no Rich, no printing;
errors are raised as unmo_cli.errors types."""
