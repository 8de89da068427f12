"""One module per command noun, loaded by cli.RootGroup only when its command is used.

The one place where imports stay in function bodies on purpose: a command module imports typer
and light helpers at its top, and the service it calls (and through it the database, Jinja,
httpx) inside each command function, so `unmo <noun> --help` and the completion of an argument
load no more than they show (tests/test_startup.py holds it). Everything below the commands
imports at the top of the module, except where a `# lazy:` comment says why."""
