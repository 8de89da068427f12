"""Every table fits the width it is printed at — an 80- or 120-column terminal, a pipe or a CI log
(COLUMNS, or Rich's 80) — without breaking what a user types next: each slug, id, status, date,
number and key hint of a row is shown whole, on that row's one line. Free text (names, comments,
messages) is what gives way: an ellipsis, or a detail line under its row.

The rows' key values are read from the same command's --json, so the tables are checked against
the data, not against a copy of their layout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support_feedback import webhook_receiver
from support_health import PlayServer, free_port, make_customer
from support_onboarding import _plain

WIDTHS = (80, 120)
NOW = "2026-11-30T12:00:00Z"
LONG_COMMENT = ("the dashboard took forty minutes to load during our launch week and support "
                "never answered the ticket we opened about the missing installs")
SLUGS = ("techstart-mobile", "ecomgrowth-labs", "northwind-interactive-games")


@pytest.fixture
def portfolio(module_workspaces, workspace: Path):
    """Three customers with keys and .env, feedback with long comments, alerts pending after a
    failed delivery (so they carry an error), one acknowledged: built once for the module (the
    failed deliveries alone wait 0.6 s each), a copy for each test."""
    return module_workspaces.copy(_build_portfolio, workspace)


def _build_portfolio(unmo):
    keys = {slug: make_customer(slug, phase="launch") for slug in SLUGS}
    closed = f"http://127.0.0.1:{free_port()}/hook"
    for n, slug in enumerate(SLUGS):
        ran = unmo("feedback", "add", slug, "-s", "3", "--nps", "2", "--category", "technical",
                   "--comment", LONG_COMMENT, "--received-at", f"2026-11-2{n}T10:00:00Z",
                   env={"UNMO_ALERT_WEBHOOK": closed, "UNMO_NOW": NOW})
        assert ran.exit_code in (0, 3), ran.stderr
    assert unmo("alerts", "ack", "1").exit_code == 0
    return keys


def run(unmo, *args: str, width: int, env: dict[str, str] | None = None):
    ran = unmo(*args, env={"COLUMNS": str(width), "UNMO_NOW": NOW} | (env or {}))
    assert ran.exit_code in (0, 1), ran.stderr
    return ran


def _whole(value: str, line: str) -> bool:
    return re.search(rf"(?:^|\s){re.escape(value)}(?:\s|$)", line) is not None


def assert_rows_whole(stdout: str, rows: list[list[str]], width: int, *,
                      one_line: bool | None = None) -> None:
    """No line is wider than the terminal, and each row's values appear whole (between spaces or
    line ends), each within one line: on the row's own line — at 120 columns all of them —, or
    on the indented detail lines right under it, where a narrow terminal puts what does not
    fit beside the first columns."""
    one_line = width >= 120 if one_line is None else one_line
    lines = stdout.splitlines()
    too_wide = [line for line in lines if len(line.rstrip()) > width]
    assert not too_wide, f"lines wider than {width} columns:\n" + "\n".join(too_wide)
    for values in rows:
        starts = [i for i, line in enumerate(lines)
                  if not line.startswith(" ") and _whole(values[0], line)]
        assert starts, f"{values[0]!r} is not whole at the start of a row:\n{stdout}"

        def block(start: int) -> list[str]:
            end = start + 1
            while end < len(lines) and lines[end].startswith("  "):
                end += 1
            return lines[start:start + 1] if one_line else lines[start:end]

        assert any(all(any(_whole(v, line) for line in block(i)) for v in values)
                   for i in starts), (
            f"{values} not whole in one row at {width} columns:\n{stdout}")


@pytest.mark.parametrize("width", WIDTHS)
def test_alerts_list(unmo, portfolio, width):
    alerts = run(unmo, "alerts", "list", "--json", width=width).json()
    ran = run(unmo, "alerts", "list", width=width)
    assert len(alerts) >= 6
    statuses = {a["status"] for a in alerts}
    assert {"pending", "acked"} <= statuses
    rows = [[str(a["id"]), a["created_at"][:10], a["customer"], a["rule"], a["status"]]
            for a in alerts]
    assert_rows_whole(ran.stdout, rows, width)
    # the delivery error is free text: it gives way, the status stays one word
    assert "pending (" not in ran.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_customer_list_and_show(unmo, portfolio, width):
    customers = run(unmo, "customer", "list", "--json", width=width).json()
    ran = run(unmo, "customer", "list", width=width)
    assert_rows_whole(ran.stdout, [[c["slug"], c["phase"], c["integration"],
                                    c["created_at"][:10]] for c in customers], width)
    for c in customers:  # the name is free text, but here it has room (or a line) of its own
        assert c["name"] in ran.stdout
    detail = run(unmo, "customer", "show", SLUGS[2], "--json", width=width).json()
    shown = run(unmo, "customer", "show", SLUGS[2], width=width)
    assert_rows_whole(shown.stdout, [[k["kind"], k["environment"], k["hint"], k["status"]]
                                     for k in detail["keys"]], width)
    assert_rows_whole(shown.stdout, [["contact_email", detail["customer"]["contact_email"]]],
                      width)


@pytest.mark.parametrize("width", WIDTHS)
def test_keys_list(unmo, portfolio, width):
    unmo("keys", "rotate", SLUGS[2], "--env", "live")
    listing = run(unmo, "keys", "list", SLUGS[2], "--json", width=width).json()
    ran = run(unmo, "keys", "list", SLUGS[2], width=width)
    assert {k["status"] for k in listing["keys"]} == {"active", "revoked"}
    assert_rows_whole(ran.stdout, [[k["kind"], k["environment"], k["hint"], k["status"],
                                    k["created_at"][:10]] for k in listing["keys"]], width)


@pytest.mark.parametrize("width", WIDTHS)
def test_feedback_list(unmo, portfolio, width):
    rows = run(unmo, "feedback", "list", "--json", width=width).json()
    ran = run(unmo, "feedback", "list", width=width)
    assert_rows_whole(ran.stdout, [[str(r["id"]), r["received_at"][:10], r["customer"],
                                    str(r["satisfaction"]), str(r["nps"]), r["category"]]
                                   for r in rows], width)
    assert "the dashboard took" in ran.stdout  # the comment gives way, it does not vanish


@pytest.mark.parametrize("width", WIDTHS)
def test_health(unmo, portfolio, width):
    server = PlayServer()
    try:
        plays = ("healthy", "kafka-unhealthy", "garbage")
        for slug, play in zip(SLUGS, plays, strict=True):
            server.plays[portfolio[slug].live] = play
        env = {"UNMO_API_URL": server.url}
        document = run(unmo, "health", "--no-record", "--format", "json", width=width,
                       env=env).json()
        ran = run(unmo, "health", "--no-record", width=width, env=env)
    finally:
        server.stop()
    assert {r["status"] for r in document["results"]} == {"healthy", "degraded", "down"}
    assert_rows_whole(ran.stdout, [[r["customer"], r["status"]] + (
        [str(r["http_status"])] if r["http_status"] else []) for r in document["results"]],
        width)
    down = next(r for r in document["results"] if r["status"] == "down")
    first_words = " ".join(down["error"].split()[:2])
    assert first_words in ran.stdout  # the detail wraps at words, it is not cut


@pytest.mark.parametrize("width", WIDTHS)
def test_config_show(unmo, workspace: Path, width):
    with webhook_receiver() as hook:
        env = {"UNMO_ALERT_WEBHOOK": hook.url + "/a/rather/long/path/" + "x" * 60}
        settings = run(unmo, "config", "show", "--json", width=width, env=env).json()
        ran = run(unmo, "config", "show", width=width, env=env)
    assert_rows_whole(ran.stdout, [[name] for name in settings["settings"]], width)


@pytest.mark.parametrize("width", WIDTHS)
def test_onboard_batch_and_keys(unmo, workspace: Path, tmp_path: Path, width):
    batch = tmp_path / "batch.json"
    common = {"contact_name": "Growth Team", "contact_email": "growth@example.com",
              "industry": "gaming", "integration": "hybrid", "platforms": "ios",
              "events_per_day": 1000, "provider": "adjust", "mrr": 100}
    batch.write_text(json.dumps([
        common | {"name": "Northwind Interactive Games and Entertainment Studios"},
        common | {"name": "Ecomgrowth Labs"}]))
    planned = run(unmo, "onboard", "--from", str(batch), "--dry-run", "--json",
                  width=width).json()
    ran = run(unmo, "onboard", "--from", str(batch), "--dry-run", width=width)
    assert_rows_whole(ran.stdout, [[p["directory"] + "/", p["customer"]["integration"]]
                                   for p in planned], width)
    one = run(unmo, "onboard", "Northwind Interactive Games and Entertainment Studios",
              *[f"--{k.replace('_', '-')}={v}" for k, v in common.items()], "--yes",
              "--show-secrets", width=width)
    keys = re.findall(r"unmo_(?:pk|sk)_(?:live|test)_[0-9A-Za-z]{28}", one.stdout)
    assert len(keys) == 4
    table = one.stdout[one.stdout.index("Keys of"):one.stdout.index("Files: ")]
    assert_rows_whole(table, [[key] for key in keys], width)


def test_narrow_terminal_puts_free_text_under_its_row(unmo, portfolio):
    """At 80 columns the alert's headline does not fit beside six key columns: it goes on a
    line of its own under the row, whole, instead of squeezing the slugs."""
    alerts = run(unmo, "alerts", "list", "--json", width=80).json()
    ran = run(unmo, "alerts", "list", width=80)
    lines = ran.stdout.splitlines()
    for alert in alerts:
        row = next(i for i, line in enumerate(lines)
                   if re.match(rf"{alert['id']}\s+{alert['created_at'][:10]}", line))
        details = []
        for line in lines[row + 1:]:
            if not line.startswith("  "):
                break
            details.append(line)
        assert any(line.startswith("  what: ") for line in details), ran.stdout
        assert all(len(line.rstrip()) <= 80 for line in details)
    wide = run(unmo, "alerts", "list", width=160)
    assert "what: " not in wide.stdout and " what " in wide.stdout  # a column again


def test_a_real_terminal_of_80_columns(workspace: Path, portfolio):
    """The width comes from the terminal itself (no COLUMNS): a pseudo-terminal 80 wide."""
    import fcntl
    import struct
    import termios

    expected = [[a["customer"], a["rule"], a["status"]] for a in json.loads(subprocess.run(
        [sys.executable, "-m", "unmo_cli", "alerts", "list", "--json"], capture_output=True,
        text=True, check=True).stdout)]
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([sys.executable, "-m", "unmo_cli", "alerts", "list"],
                               stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert process.wait(timeout=60) == 0
    os.close(master)
    screen = _plain(seen.decode("utf-8", "replace"))
    assert_rows_whole(screen, expected, 80)


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)


@settings(max_examples=150, deadline=None)
@given(width=st.integers(min_value=40, max_value=200),
       keys=st.integers(min_value=1, max_value=7),
       texts=st.integers(min_value=0, max_value=2),
       rows=st.lists(st.tuples(st.lists(_WORD, min_size=7, max_size=7),
                               st.lists(st.lists(_WORD, max_size=12), min_size=2, max_size=2)),
                     min_size=1, max_size=4))
def test_any_table_at_any_width_keeps_its_key_cells_whole(width, keys, texts, rows):
    """The layout itself, on random tables: whatever the width, every key cell is whole within
    one line of its row, free text never pushes a line past the width, and nothing is lost."""
    import io

    from rich.console import Console

    from unmo_cli import console

    columns = [console.key(f"k{i}") for i in range(keys)] + [
        console.text(f"t{i}", wrap=bool(i % 2)) for i in range(texts)]
    table = console.DataTable("Random", columns)
    expected = []
    for key_cells, text_cells in rows:
        cells = key_cells[:keys] + [" ".join(words) for words in text_cells[:texts]]
        table.add_row(*cells)
        expected.append(key_cells[:keys])
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, soft_wrap=True).print(table, crop=False)
    assert_rows_whole(buffer.getvalue(), expected, width, one_line=False)
