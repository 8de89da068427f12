"""Shell completion of a customer slug (one Tab press in bash) as a whole process, at 1,000 and
10,000 customers, against `python -c pass` and the import floor of the stack unmo runs on
(`python -c "import typer, sqlmodel, jinja2, rich.console"`), interleaved in one run so that the
ratios are fair on a busy machine:

    python benchmarks/bench_completion.py [--sizes 1000,10000] [--runs 9]
                                          [--postgres-url postgresql+psycopg://USER@HOST:PORT/DB]

`python -c "import typer"` is printed too: the completion protocol is Typer's, so a Tab cannot
cost less than importing it. Each Tab is `_UNMO_COMPLETE=complete_bash COMP_WORDS="unmo customer
show customer-00" COMP_CWORD=3 unmo`, what Typer's bash script runs; its prefix matches 999
slugs, so it prints the most completion offers (500). Goal: ≤ 0.2 s at 10,000 slugs. With
--postgres-url every size is measured again on a fresh PostgreSQL database, three ways: a Tab the
slug cache answers (unmo_cli/completion.py; filled first, no refresh due: the goal's figure), one
that also starts the cache's background refresh (the previous refresh waited for before each),
and one with no cache it can use (the server asked, as every first Tab is). Prints medians;
asserts only that the Tab offered the slugs expected."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchtools import (
    FLOOR_STACK,
    clean_env,
    compile_package,
    databases,
    fresh_database,
    instructions,
    interleaved,
    machine,
    median_ms,
    run_timed,
    unmo_command,
)
from measure import REFERENCE_FLOOR_S  # a goal in seconds on a quiet machine, as a ratio

GOAL_S = 0.2
PREFIX = "customer-00"
_REFERENCES: dict[str, int] = {}


def generate(workspace: Path, url: str | None, customers: int) -> None:
    """`customers` customers straight through the project's database adapter (bulk INSERT)."""
    os.environ["UNMO_WORKSPACE"] = str(workspace)
    if url:
        os.environ["UNMO_DATABASE_URL"] = url
    else:
        os.environ.pop("UNMO_DATABASE_URL", None)
    from sqlalchemy import insert

    from unmo_cli import clock
    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    at = clock.to_db(clock.parse_instant("2026-11-01T09:00:00Z"))
    rows = [{"slug": f"customer-{n:05d}", "name_key": f"customer{n:05d}",
             "name": f"Customer {n:05d}", "industry": "gaming", "integration": "sdk",
             "platforms": "ios", "provider": "none", "events_per_day": 1000, "mrr_cents": 100,
             "contact_name": "Ops", "contact_email": f"ops@c{n}.example", "phase": "setup",
             "created_at": at} for n in range(1, customers + 1)]
    with db.session() as session:
        session.execute(insert(Customer), rows)
    db.dispose()


def tab_env(workspace: Path, url: str | None) -> dict[str, str]:
    env = clean_env(workspace, url)
    env.update(_UNMO_COMPLETE="complete_bash", COMP_WORDS=f"unmo customer show {PREFIX}",
               COMP_CWORD="3", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    return env


def _filled_cache(home: Path, env: dict[str, str], *, refresh_due: bool) -> Path:
    """A slug cache under `home` (XDG_CACHE_HOME), filled by one Tab's refresh; with
    refresh_due False its refresh mark is dated an hour ahead, so no Tab starts another."""
    run_timed(unmo_command(), {**env, "XDG_CACHE_HOME": str(home)})
    deadline = time.monotonic() + 60
    while not (found := sorted(home.glob("unmo/slugs-*.json"))):
        if time.monotonic() > deadline:
            raise SystemExit("the Tab's refresh filled no slug cache in 60 s")
        time.sleep(0.05)
    if not refresh_due:
        ahead = time.time() + 3600
        os.utime(found[0].with_name(found[0].name + ".refresh"), (ahead, ahead))
    return found[0]


def _starting_a_refresh(cache: Path):
    """The Tab's argv for run n, after making its cache's refresh due (cache and mark dated
    REFRESH_AFTER_S + 5 s ago), once the refresh the previous run started has written it."""
    def argv(n: int) -> list[str]:
        aged = time.time() - 15
        deadline = time.monotonic() + 30
        while n and cache.stat().st_mtime <= aged + 1 and time.monotonic() < deadline:
            time.sleep(0.02)  # the previous run's refresh not done yet
        for path in (cache, cache.with_name(cache.name + ".refresh")):
            os.utime(path, (aged, aged))
        return unmo_command()
    return argv


def measure(label: str, server_url: str | None, size: int, runs: int,
            count: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as scratch, fresh_database(server_url) as url:
        workspace = Path(scratch)
        generate(workspace, url, size)
        env = tab_env(workspace, url)
        # A file where the cache folder would go: no cache can be made or read there.
        (workspace / "no-cache").write_text("")
        no_cache = {**env, "XDG_CACHE_HOME": str(workspace / "no-cache" / "x")}
        _, _, done = run_timed(unmo_command(), no_cache)
        offered = done.stdout.split()
        expected = min(500, sum(1 for n in range(1, size + 1)
                                if f"customer-{n:05d}".startswith(PREFIX)))
        if len(offered) != expected or not all(s.startswith(PREFIX) for s in offered):
            raise SystemExit(f"the Tab offered {len(offered)} slugs, not {expected}: "
                             f"{done.stdout[:200]!r} {done.stderr[:500]!r}")
        tabs: dict[str, tuple[object, dict[str, str]]] = {"tab": (unmo_command(), no_cache)}
        if url:
            steady = {**env, "XDG_CACHE_HOME": str(workspace / "cache")}
            _filled_cache(workspace / "cache", env, refresh_due=False)
            due = {**env, "XDG_CACHE_HOME": str(workspace / "cache-due")}
            cache = _filled_cache(workspace / "cache-due", env, refresh_due=True)
            tabs = {"tab": (unmo_command(), steady), "refresh": (_starting_a_refresh(cache), due),
                    "no_cache": (unmo_command(), no_cache)}
            for name, (argv, tab_env_) in tabs.items():
                again = run_timed(argv(0) if callable(argv) else argv, tab_env_)[2].stdout
                if again.split() != offered:
                    raise SystemExit(f"the Tab ({name}) offered other slugs than the server")
        counted = {}
        if count:  # the two references depend on neither the database nor the size: once
            if not _REFERENCES:
                _REFERENCES["typer"] = instructions([sys.executable, "-c", "import typer"],
                                                    clean_env())
                _REFERENCES["floor"] = instructions([sys.executable, "-c", FLOOR_STACK],
                                                    clean_env())
            counted = {**_REFERENCES, **{
                name: instructions([sys.executable, "-m", "unmo_cli"], tab_env_)
                for name, (argv, tab_env_) in tabs.items() if name != "refresh"}}
        times = interleaved({
            "pass": ([sys.executable, "-c", "pass"], clean_env()),
            "typer": ([sys.executable, "-c", "import typer"], clean_env()),
            "floor": ([sys.executable, "-c", FLOOR_STACK], clean_env()),
            **tabs,
        }, runs)
    bare, typer, floor, tab = (median_ms(times[k]) for k in ("pass", "typer", "floor", "tab"))
    print(f"[{label}] {size:>6,} slugs: Tab {tab:5.0f} ms ({len(offered)} offered"
          f"{', the cache answers' if url else ''})   python -c pass {bare:4.0f} ms "
          f"({tab / bare:4.1f}x)   import typer {typer:4.0f} ms ({tab / typer:.2f}x)   "
          f"import floor {floor:4.0f} ms ({tab / floor:.2f}x)   goal ≤ {GOAL_S * 1000:.0f} ms: "
          f"{'met' if tab / floor <= GOAL_S / REFERENCE_FLOOR_S else 'NOT met'}")
    others = {}
    for name, what in (("refresh", "the cache answers and starts its refresh"),
                       ("no_cache", "no cache: the server asked, as on a first Tab")):
        if name in times:
            others[name] = median_ms(times[name])
            print(f"    Tab, {what}: {others[name]:5.0f} ms ({others[name] / floor:.2f}x floor)")
    if counted:
        print("    instructions: " + ", ".join(
            f"Tab{'' if name == 'tab' else ' ' + name} {counted[name] / 1e6:.0f} M "
            f"({counted[name] / counted['floor']:.2f}x floor)"
            for name in ("tab", "no_cache") if name in counted)
            + f", import typer {counted['typer'] / 1e6:.0f} M, import floor "
              f"{counted['floor'] / 1e6:.0f} M")
    return {"database": label, "slugs": size, "tab_s": tab / 1000, "pass_s": bare / 1000,
            "typer_s": typer / 1000, "floor_s": floor / 1000, "offered": len(offered),
            **{f"{name}_s": value / 1000 for name, value in others.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions (valgrind): ratios no load can move")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    compile_package()
    print(machine())
    # Run by benchmarks/run_all.py, which names the PostgreSQL database to use in
    # UNMO_DATABASE_URL: measure there alone (a fresh database beside it, on the same server).
    given = os.environ.get("UNMO_DATABASE_URL")
    targets = (databases(args.postgres_url) if args.postgres_url or not given
               else [("PostgreSQL", given)])
    figures = [measure(label, url, int(size), args.runs, args.instructions)
               for label, url in targets for size in args.sizes.split(",")]
    if args.json:
        largest = max(int(size) for size in args.sizes.split(","))
        goals = [{"figure": f"Tab completion of a slug among {f['slugs']:,} customers "
                            f"(`unmo customer show customer-00<Tab>`, {f['offered']} offered), "
                            "whole process",
                  "goal": f"≤ {GOAL_S:g} s (≤ {GOAL_S / REFERENCE_FLOOR_S:.2f}× floor)",
                  "value": (f"{f['tab_s'] * 1000:.0f} ms = {f['tab_s'] / f['floor_s']:.2f}× "
                            f"floor {f['floor_s'] * 1000:.0f} ms ({f['tab_s'] / f['typer_s']:.2f}× "
                            "`import typer`)"
                            + ("; the cache answering; starting its refresh "
                               f"{f['refresh_s'] / f['floor_s']:.2f}×, no cache (a first Tab) "
                               f"{f['no_cache_s'] / f['floor_s']:.2f}×"
                               if "no_cache_s" in f else "")),
                  "met": f["tab_s"] / f["floor_s"] <= GOAL_S / REFERENCE_FLOOR_S}
                 for f in figures if f["slugs"] == largest]
        print(json.dumps({"runs": args.runs, "by_size": figures, "goals": goals}))


if __name__ == "__main__":
    main()
