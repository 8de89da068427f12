"""`unmo demo`: a throwaway workspace with the pilots, a month of feedback, the sandbox, health
checks and the weekly report — through the real CLI, never touching the user's workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support_ci import skip_or_fail
from support_signals import interruptible, sigint_deliverable

NOW = "2026-11-25T12:00:00Z"  # a Wednesday: the report's week is 2026-W47 (16–22 Nov)
PILOTS = ["techstart-mobile", "ecomgrowth-labs", "financetrack-pro"]


def _demo(unmo, folder: Path, *extra: str):
    ran = unmo("demo", "--dir", str(folder), "--json", *extra, env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    assert "Traceback" not in ran.stderr
    return ran


def _in_demo(unmo, folder: Path, *args: str):
    """A command run in the demo's workspace afterwards (its own SQLite, not the test's)."""
    return unmo("--workspace", str(folder), *args,
                env={"UNMO_NOW": NOW, "UNMO_DATABASE_URL": "", "UNMO_WORKSPACE": ""})


def test_the_demo_builds_a_workspace_and_reports_its_week(unmo, workspace: Path, unchanged,
                                                          tmp_path: Path):
    folder = tmp_path / "demo"
    ran = _demo(unmo, folder)
    doc = ran.json()
    unchanged()  # the user's workspace (and, in the PostgreSQL pass, their database) untouched

    assert doc["workspace"] == str(folder.resolve())
    assert doc["customers"] == PILOTS  # in the order of their onboarding
    for slug in PILOTS:
        env_file = folder / "customers" / slug / ".env"
        assert env_file.is_file() and env_file.stat().st_mode & 0o777 == 0o600
    assert (folder / "unmo.yaml").is_file() and (folder / ".unmo" / "unmo.db").is_file()

    report = doc["report"]
    assert report["week"] == "2026-W47" and report["complete"] is True
    assert report["customers"] == {"total": 3, "active": 3, "new": 1, "churned": 0}
    assert report["mrr"]["current"] == "7500.00" and report["mrr"]["previous"] == "5000.00"
    assert report["onboarding"]["count"] == 1
    assert report["satisfaction"]["responses"] > 0 and report["satisfaction"]["pct"] is not None
    assert report["health"]["checks"] > 0 and report["health"]["availability_pct"] == 100.0
    assert report["previous"]["health"]["checks"] > 0
    # One story: the alerts the demo raised, the health it told of, all in the report's week.
    assert {(a["customer"], a["rule"]) for a in report["alerts"]} == {
        ("ecomgrowth-labs", "low_satisfaction"), ("ecomgrowth-labs", "detractor"),
        ("ecomgrowth-labs", "health_failing")}
    phases = {row["slug"]: row["phase"] for row in report["portfolio"]}
    assert phases["techstart-mobile"] == "launch"
    last_checks = {row["slug"]: row["health_status"] for row in report["portfolio"]}
    assert last_checks == {"ecomgrowth-labs": "degraded", "financetrack-pro": "healthy",
                           "techstart-mobile": "healthy"}
    assert report["start"] <= doc["health"]["latest"]["checked_at"] < report["end"]
    assert all(row["health_score"] is not None for row in report["portfolio"])

    feedback = doc["feedback"]
    assert feedback["responses"] >= 15 and feedback["calls"] == 1
    for survey in feedback["surveys"]:
        assert (folder / survey).is_file()

    health = doc["health"]
    assert health["runs"] >= 10 and health["alerts"] == 1
    statuses = {r["customer"]: r["status"] for r in health["latest"]["results"]}
    assert statuses == {"ecomgrowth-labs": "degraded", "financetrack-pro": "healthy",
                        "techstart-mobile": "healthy"}

    html = Path(doc["html"])
    assert html.parent == folder.resolve() and html.name == "weekly-report-2026-W47.html"
    page = html.read_text(encoding="utf-8")
    assert "<svg" in page and "EcomGrowth Labs" in page

    # Everything went through the real services: the workspace works with the other commands.
    alerts = _in_demo(unmo, folder, "alerts", "list", "--json")
    assert alerts.exit_code == 0, alerts.stderr
    assert {a["rule"] for a in alerts.json()} == {"low_satisfaction", "detractor",
                                                   "health_failing"}
    again = _in_demo(unmo, folder, "report", "weekly", "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["satisfaction"] == report["satisfaction"]
    assert again.json()["customers"] == report["customers"]
    check = _in_demo(unmo, folder, "customer", "render", "--all", "--check")
    assert check.exit_code == 0, check.stderr


@pytest.mark.slow
def test_the_story_is_the_same_every_time(unmo, workspace: Path, tmp_path: Path):
    first = _demo(unmo, tmp_path / "one").json()
    second = _demo(unmo, tmp_path / "two").json()
    for key in ("customers", "mrr", "satisfaction", "portfolio"):
        if key == "portfolio":  # latencies and onboarding durations are measured, not told
            assert [r["slug"] for r in first["report"][key]] == \
                [r["slug"] for r in second["report"][key]]
        else:
            assert first["report"][key] == second["report"][key], key
    assert first["report"]["onboarding"]["count"] == second["report"]["onboarding"]["count"]
    assert [a["text"] for a in first["report"]["alerts"]] == \
        [a["text"] for a in second["report"]["alerts"]]
    assert first["feedback"]["responses"] == second["feedback"]["responses"]
    one = sorted((tmp_path / "one" / "surveys").iterdir())
    two = sorted((tmp_path / "two" / "surveys").iterdir())
    assert [p.read_text() for p in one] == [p.read_text() for p in two]


def test_table_output_messages_and_the_global_workspace_option(unmo, workspace: Path,
                                                               tmp_path: Path):
    folder = tmp_path / "chosen"
    ran = unmo("--workspace", str(folder), "demo", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    assert (folder / "customers" / "techstart-mobile").is_dir()
    assert "Week 2026-W47" in ran.stdout
    for slug in PILOTS:
        assert slug in ran.stdout
    assert f"HTML page of the report: {folder.resolve() / 'weekly-report-2026-W47.html'}" \
        in ran.stderr
    assert "Traceback" not in ran.stderr and "error" not in ran.stderr.lower()
    assert "unmo_sk_" not in ran.stdout + ran.stderr
    # Plurals as a person writes them.
    for said in ("logged 1 call;", "2 feedback alerts raised", "1 health alert raised",
                 "Onboarding the 3 pilot customers"):
        assert said in ran.stderr, said
    assert "1 customer " in ran.stdout and "1 customers" not in ran.stdout
    assert (folder / "weekly-report-2026-W47.html").is_file()  # --workspace: kept


@pytest.mark.parametrize("occupied", ["a-file", "a-folder-with-something"])
def test_a_folder_with_anything_in_it_is_refused(unmo, workspace: Path, tmp_path: Path,
                                                 occupied: str):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    target = folder / "notes.txt" if occupied == "a-file" else folder
    ran = unmo("demo", "--dir", str(target), env={"UNMO_NOW": NOW})
    assert ran.exit_code == 2
    assert ran.stdout == ""
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


@pytest.mark.slow
def test_on_a_machine_with_nothing_set_up(tmp_path: Path):
    """`python -m unmo_cli demo` in an empty folder, no UNMO_* settings, a fresh HOME and TMPDIR:
    the workspace is a new folder in TMPDIR and the current folder stays empty."""
    home, temp, cwd = tmp_path / "home", tmp_path / "tmp", tmp_path / "cwd"
    for folder in (home, temp, cwd):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
    env.update(HOME=str(home), TMPDIR=str(temp), NO_COLOR="1", UNMO_NOW=NOW)
    ran = subprocess.run([sys.executable, "-m", "unmo_cli", "demo", "--json", "--keep"],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    doc = json.loads(ran.stdout)
    root = Path(doc["workspace"])
    assert root.parent == temp.resolve() and root.name.startswith("unmo-demo-")
    assert list(cwd.iterdir()) == []
    assert {p.name for p in home.iterdir()} <= {".cache"}  # at most caches, never a workspace
    assert Path(doc["html"]).is_file() and doc["kept"] is True
    # Without --keep, each run removes its folder: TMPDIR holds only the kept one.
    again = subprocess.run([sys.executable, "-m", "unmo_cli", "demo", "--json"], cwd=cwd,
                           env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["kept"] is False
    assert [p.name for p in temp.iterdir()] == [root.name]
    assert "unmo demo --keep" in again.stderr


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_an_interrupted_demo_leaves_no_folder_behind(tmp_path: Path, how: str):
    """Ctrl-C (SIGINT) or a kill (SIGTERM) in the middle of the story: the temporary folder is
    removed on the way out."""
    import signal

    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
    # Held at its first customer's rendering (testhooks' pause point) until the signal comes:
    # on a loaded machine the whole story could otherwise end before the test sends it.
    env.update(TMPDIR=str(temp), NO_COLOR="1", UNMO_NOW=NOW, HOME=str(tmp_path),
               UNMO_TEST_PAUSE_AT="render_files", UNMO_TEST_PAUSE_S="60")
    demo = subprocess.Popen([sys.executable, "-m", "unmo_cli", "demo"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    assert demo.stderr is not None
    for line in demo.stderr:
        if line.startswith("unmo: paused at render_files"):  # the folder exists, mid-story
            break
    assert [p.name for p in temp.iterdir() if p.name.startswith("unmo-demo-")]
    assert sigint_deliverable(demo.pid)
    demo.send_signal(getattr(signal, how))
    demo.stderr.read()
    assert demo.wait(timeout=60) != 0
    assert [p.name for p in temp.iterdir() if p.name.startswith("unmo-demo-")] == []


@pytest.mark.slow
def test_a_wheel_install_finds_its_packaged_data_from_any_folder(tmp_path: Path):
    """Non-editable: the built wheel, installed into its own folder and imported from there,
    ships pilot-customers.yaml and the templates, and the demo runs from an unrelated folder."""
    source = Path(__file__).resolve().parents[1]
    wheels, site, cwd = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    cwd.mkdir()
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), str(source)],
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0 and "hatchling" in build.stderr:
        skip_or_fail("hatchling is not installed here, so no wheel can be built offline")
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("unmo_cli-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                              "--target", str(site), str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
    env.update(PYTHONPATH=str(site), NO_COLOR="1", UNMO_NOW=NOW, TMPDIR=str(tmp_path))
    where = subprocess.run([sys.executable, "-c", "import unmo_cli; print(unmo_cli.__file__)"],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(site), "the wheel's copy was not imported"
    assert (site / "unmo_cli" / "data" / "pilot-customers.yaml").is_file()
    assert (site / "unmo_cli" / "data" / "templates" / "customer" / "README.md.j2").is_file()
    ran = subprocess.run([sys.executable, "-m", "unmo_cli", "demo", "--dir",
                          str(tmp_path / "demo"), "--json"],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["customers"] == PILOTS
    assert list(cwd.iterdir()) == []


def test_the_demo_pins_its_clock_for_its_own_thread_only(monkeypatch):
    """The demo's story runs with clock.pinned(instant), not by setting UNMO_NOW: the pin holds
    in the demo's thread and the asyncio tasks it starts (health's checks), while another
    thread — the sandbox serving meanwhile — and the environment are left alone."""
    import asyncio
    import threading
    from datetime import UTC, datetime

    from unmo_cli import clock

    monkeypatch.delenv("UNMO_NOW", raising=False)
    story = datetime(2020, 2, 3, 9, 0, tzinfo=UTC)
    seen: dict[str, object] = {}

    async def in_a_task() -> datetime:
        return clock.now()

    with clock.pinned(story):
        server = threading.Thread(target=lambda: seen.update(server=clock.now()))
        server.start()
        server.join()
        seen.update(here=clock.now(), task=asyncio.run(in_a_task()),
                    env=os.environ.get("UNMO_NOW"))
    assert seen["here"] == story and seen["task"] == story
    assert seen["server"].year >= 2025 and seen["env"] is None
    assert clock.now().year >= 2025  # and the pin is gone afterwards
