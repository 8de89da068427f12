"""What the start-up, onboarding, completion and health benchmarks share: the command to run, a
clean environment, fresh PostgreSQL databases, and medians of commands run interleaved (A, B, A,
B …) so that a machine whose load changes during the run charges every figure alike, and the
ratios printed are fair even when the absolute times are not."""

from __future__ import annotations

import compileall
import itertools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR_STACK = "import typer, sqlmodel, jinja2, rich.console"


def unmo_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m unmo_cli`."""
    script = Path(sys.executable).with_name("unmo")
    if script.exists():
        return [str(script)]
    found = shutil.which("unmo")
    return [found] if found else [sys.executable, "-m", "unmo_cli"]


def compile_package() -> None:
    """Byte-compile unmo_cli as `pip install` does for an installed package: an editable checkout
    under PYTHONDONTWRITEBYTECODE=1 (set on this machine) would otherwise compile ~40 modules
    from source in every measured process, a cost no user pays."""
    compileall.compile_dir(str(ROOT / "unmo_cli"), quiet=1)


def clean_env(workspace: Path | None = None, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_") and k != "CI"}
    env["NO_COLOR"] = "1"
    # unmo timed from its compiled modules, as installed (measure.clean_env says why).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if workspace is not None:
        env["UNMO_WORKSPACE"] = str(workspace)
    if database_url is not None:
        env["UNMO_DATABASE_URL"] = database_url
    return env


def databases(postgres_url: str | None) -> list[tuple[str, str | None]]:
    """(label, server URL or None for SQLite) of each database to measure on."""
    return [("SQLite", None)] + ([("PostgreSQL", postgres_url)] if postgres_url else [])


_names = itertools.count()


@contextmanager
def fresh_database(server_url: str | None) -> Iterator[str | None]:
    """A new, empty database on the server (its URL, for UNMO_DATABASE_URL), dropped afterwards;
    None for SQLite (each workspace has its own file)."""
    if server_url is None:
        yield None
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"unmo_bench_{os.getpid()}_{next(_names)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def run_timed(command: Sequence[str], env: dict[str, str], *, check: bool = True
              ) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds user + system, the finished process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(list(command), env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if check and done.returncode:
        raise SystemExit(f"{' '.join(command[:4])} failed ({done.returncode}): "
                         f"{done.stderr.strip()[-2000:]}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, done


def interleaved(commands: dict[str, tuple[Sequence[str] | object, dict[str, str]]],
                runs: int) -> dict[str, list[float]]:
    """Wall seconds of each named command, run in turn `runs` times after one warm-up round (and
    its CPU seconds under NAME:cpu). A command may be a callable of the run's number returning
    the argv (a new name per run)."""
    times: dict[str, list[float]] = {}
    for n in range(runs + 1):
        for name, (command, env) in commands.items():
            argv = command(n) if callable(command) else command
            wall, cpu, _ = run_timed(argv, env)
            if n:  # round 0 warms the page cache and the .pyc files
                times.setdefault(name, []).append(wall)
                times.setdefault(f"{name}:cpu", []).append(cpu)
    return times


def instructions(command: Sequence[str], env: dict[str, str], *,
                 exit_codes: Sequence[int] = (0,)) -> int:
    """The instructions one run of `command` executes, counted by valgrind's callgrind: a figure
    the machine's load does not move (--instructions; ~50x slower than the run itself). Not a
    time — a pure-Python start-up's wall time follows it closely, its I/O not at all."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           *command], env={**env, "PYTHONHASHSEED": "0"},
                          capture_output=True, text=True)
    if done.returncode not in exit_codes:
        raise SystemExit(f"{' '.join(command[:4])} failed under valgrind: {done.stderr[-500:]}")
    for line in done.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    raise SystemExit("valgrind printed no instruction count")


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def machine() -> str:
    import platform

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}; load average {load}")
