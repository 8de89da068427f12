"""Onboarding speed, each as a whole process (what a user waits for):

    python benchmarks/bench_onboard.py [--runs N] [--batch 1000] [--json]

1. `unmo --help` against `python -c "import typer"` (goal: ratio ≤ 1.5);
2. one non-interactive `unmo onboard … --yes`, in a fresh workspace (creates the database) and in
   a workspace that already has one (goal ≤ 0.5 s);
3. `unmo onboard --from FILE` with 1,000 customers (goal ≤ 30 s).
Prints medians and the machine; asserts nothing. UNMO_DATABASE_URL (an empty database) measures
on that database instead of each workspace's SQLite file; the workspaces then share it."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLAGS = ["--contact-name", "Growth Team", "--contact-email", "growth@techstart.example",
         "--industry", "gaming", "--integration", "hybrid", "--platforms", "ios,android",
         "--events-per-day", "50000", "--provider", "appsflyer", "--mrr", "2500", "--yes"]


def _unmo() -> list[str]:
    script = Path(sys.executable).with_name("unmo")
    if script.exists():
        return [str(script)]
    found = shutil.which("unmo")
    return [found] if found else [sys.executable, "-m", "unmo_cli"]


def _env(workspace: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if (not k.startswith("UNMO_") or k == "UNMO_DATABASE_URL") and k != "CI"}
    env["NO_COLOR"] = "1"
    if workspace is not None:
        env["UNMO_WORKSPACE"] = str(workspace)
    return env


CPU: list[float] = []  # CPU seconds (user + system) of each _timed child, a load-proof figure


def _timed(command: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:3])} failed: {done.stderr.strip()}")
    return elapsed


def _median(command: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of `runs` runs after one warm-up run."""
    _timed(command, env)  # warm-up: page cache and .pyc files
    CPU.clear()
    wall = statistics.median(_timed(command, env) for _ in range(runs))
    return wall, statistics.median(CPU)


def _batch_file(path: Path, count: int) -> None:
    import yaml

    integrations = ["sdk", "s2s", "hybrid"]
    records = [{
        "name": f"Benchmark Customer {n:05d}", "contact_name": "Ops Team",
        "contact_email": f"ops{n}@bench.example", "industry": "other",
        "integration": integrations[n % 3], "platforms": ["ios", "android"],
        "events_per_day": 1000 + n, "provider": "none", "mrr": 99.5,
    } for n in range(count)]
    for record in records:
        if record["integration"] == "s2s":  # the contract: platforms only for sdk and hybrid
            del record["platforms"]
    path.write_text(yaml.safe_dump(records, sort_keys=False), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (default 7)")
    parser.add_argument("--batch", type=int, default=1000, help="customers in the --from file")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    args = parser.parse_args()
    unmo = _unmo()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")

    typer_s, typer_cpu = _median([sys.executable, "-c", "import typer"], _env(), args.runs)
    help_s, help_cpu = _median([*unmo, "--help"], _env(), args.runs)
    print(f"unmo --help               {help_s * 1000:6.0f} ms wall {help_cpu * 1000:5.0f} ms CPU"
          f"   python -c 'import typer' {typer_s * 1000:4.0f} ms wall {typer_cpu * 1000:4.0f} ms "
          f"CPU   ratio {help_s / typer_s:.2f} wall, {help_cpu / typer_cpu:.2f} CPU (goal ≤ 1.5)")

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        fresh, used, fresh_cpu, used_cpu = [], [], [], []
        for n in range(args.runs + 1):
            workspace = root / f"fresh-{n}"
            workspace.mkdir()
            # a name per run: with UNMO_DATABASE_URL every workspace shares one database
            fresh.append(_timed([*unmo, "onboard", f"Bench Mobile {n}", *FLAGS],
                                _env(workspace)))
            fresh_cpu.append(CPU[-1])
            used.append(_timed([*unmo, "onboard", f"Second Mobile {n}", *FLAGS],
                               _env(workspace)))
            used_cpu.append(CPU[-1])
        print(f"onboard, fresh workspace  {statistics.median(fresh[1:]) * 1000:6.0f} ms wall "
              f"{statistics.median(fresh_cpu[1:]) * 1000:5.0f} ms CPU   (creates and migrates "
              "the database)")
        print(f"onboard, existing one     {statistics.median(used[1:]) * 1000:6.0f} ms wall "
              f"{statistics.median(used_cpu[1:]) * 1000:5.0f} ms CPU   (goal ≤ 500 ms)")

        batch = root / "batch.yaml"
        _batch_file(batch, args.batch)
        workspace = root / "batch"
        workspace.mkdir()
        batch_s = _timed([*unmo, "onboard", "--from", str(batch)], _env(workspace))
        folders = sum(1 for p in (workspace / "customers").iterdir() if p.is_dir())
        files = sum(1 for p in (workspace / "customers").rglob("*") if p.is_file())
        print(f"onboard --from, {args.batch} customers {batch_s:5.1f} s wall {CPU[-1]:5.1f} s CPU"
              f"   ({folders} folders, {files} files; goal ≤ 30 s)")
        probe = root / "probe"
        probe.mkdir()
        started = time.perf_counter()
        for n in range(1000):
            (probe / f"f{n}").write_bytes(b"x" * 2000)
        print(f"(this disk: {(time.perf_counter() - started):.2f} ms per small file created; "
              "the batch writes ~24 files and folders per customer)")
    if args.json:
        print(json.dumps({
            "runs": args.runs, "typer_s": typer_s, "help_s": help_s,
            "onboard_fresh_s": statistics.median(fresh[1:]),
            "onboard_s": statistics.median(used[1:]),
            "onboard_cpu_s": statistics.median(used_cpu[1:]),
            "batch": args.batch, "batch_s": batch_s, "batch_cpu_s": CPU[-1]}))


if __name__ == "__main__":
    main()
