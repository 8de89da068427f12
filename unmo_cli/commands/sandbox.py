"""`unmo sandbox`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)


def sandbox(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8787, "--port", help="Port to listen on (0: any free port)."),
    scenario: list[str] | None = typer.Option(
        None, "--scenario", metavar="SLUG=SCENARIO",
        help="Answer for a customer as healthy, degraded, slow, down, garbage or quiet "
        "(repeatable)."),
    slow_ms: int = typer.Option(6000, "--slow-ms", help="How long the slow scenario waits."),
    latency_ms: int = typer.Option(0, "--latency-ms", help="Added to every answer."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not log each request."),
) -> None:
    """Serve the attribution API on loopback for demos and tests, with the workspace's keys."""
    from unmo_cli import console
    from unmo_cli.services.sandbox import SandboxOptions, parse_scenarios, serve

    options = SandboxOptions(host=host, port=port, scenarios=parse_scenarios(scenario or []),
                             slow_ms=slow_ms, latency_ms=latency_ms)
    serve(options, log=None if quiet else console.info,
          on_ready=lambda url: console.info(f"unmo sandbox serving attribution-api.yaml at {url} "
                                            f"(the spec: {url}/openapi.yaml; set api.base_url "
                                            "or UNMO_API_URL to it; Ctrl-C stops)"))
    console.info("sandbox stopped.")
