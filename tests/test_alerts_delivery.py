"""The delivery promise (README, "Feedback and alerts"): every alert reaches the webhook at least
once, and a second post of one alert happens only after a post whose outcome is unknown (the
webhook took the request and did not answer in time) or a run killed between its post and
recording it. Real `unmo` subprocesses at once on one workspace (SQLite, or PostgreSQL in its
pass: the `workspace` fixture's UNMO_DATABASE_URL is inherited), and a real HTTP receiver on
127.0.0.1 that counts the posts of each alert."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support_feedback import onboard, webhook_receiver, write_csv
from support_launcher import UnmoProcess

from tests.conftest import query

RECEIVED = "2026-11-20T{:02d}:{:02d}:00Z"


@pytest.fixture
def hook():
    with webhook_receiver() as receiver:
        yield receiver


def _spawn(*args: str, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", **extra}
    return UnmoProcess([sys.executable, "-m", "unmo_cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def _wait_for(marker: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode} before pausing: "
                                 f"{process.communicate()[1]}")
        assert time.monotonic() < deadline, "never reached the pause"
        time.sleep(0.02)


def _kill_9(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate()


def _survey(workspace: Path, slug: str, count: int) -> Path:
    """`count` responses of satisfaction 2: one low_satisfaction alert each, each text unique."""
    path = workspace.parent / f"survey-{count}.csv"
    write_csv(path, "customer,satisfaction,nps,category,comment,received_at,id",
              *(f"{slug},2,,support,row {n},{RECEIVED.format(8 + n // 60, n % 60)},r{n}"
                for n in range(count)))
    return path


def _pending_alerts(unmo, workspace: Path, count: int) -> list[str]:
    """`count` pending alerts, raised with no webhook configured; returns their texts."""
    slug = onboard(unmo, "TechStart Mobile")
    ran = unmo("feedback", "import", str(_survey(workspace, slug, count)), "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["alerts"] == count
    return [text for (text,) in query("SELECT text FROM alerts ORDER BY id")]


def _delivery_rows() -> list[tuple]:
    return query("SELECT id, notified_at IS NOT NULL, attempts, claimed_by, claimed_until "
                 "FROM alerts ORDER BY id")


def _assert_each_posted_once(hook, texts: list[str]) -> None:
    posts = Counter(hook.texts)
    twice = {" | ".join(text.splitlines()[::2]): n for text, n in posts.items() if n != 1}
    assert not twice, f"posted more than once: {twice}"
    assert sorted(posts) == sorted(texts), "an alert was never posted"
    rows = _delivery_rows()
    assert all(notified and claimed_by is None and until is None
               for _id, notified, _attempts, claimed_by, until in rows), rows
    assert [attempts for _id, _n, attempts, _c, _u in rows] == [1] * len(texts)


def _lapse_claims() -> None:
    """What CLAIM_LEASE passing does to a killed run's claim, without waiting 5 minutes."""
    from sqlalchemy import text

    from unmo_cli.db import connect
    from unmo_cli.workspace import load_workspace

    db = connect(load_workspace().database_url)
    try:
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE alerts SET claimed_until = :past "
                                    "WHERE claimed_until IS NOT NULL"),
                               {"past": datetime.now(UTC).replace(tzinfo=None)
                                - timedelta(seconds=1)})
    finally:
        db.dispose()


# --- runs at once ------------------------------------------------------------------------------


def test_notifies_at_once_post_every_alert_exactly_once(unmo, workspace: Path, hook):
    texts = _pending_alerts(unmo, workspace, 24)
    hook.answer_after_s = 0.1  # 2.4 s of posts per run: the four runs overlap
    runs = [_spawn("alerts", "notify", "--json", UNMO_ALERT_WEBHOOK=hook.url)
            for _ in range(4)]
    outcomes = [_finish(run) for run in runs]

    for code, _out, err in outcomes:
        assert code == 0, err
    _assert_each_posted_once(hook, texts)
    reports = [json.loads(out) for _code, out, _err in outcomes]
    assert sum(r["delivered"] for r in reports) == 24
    assert all(r["pending"] == 0 and r["failed"] == 0 for r in reports)
    # Every post of one alert carries its own key, the same in every run.
    keys = [r.idempotency_key for r in hook.requests]
    assert len(set(keys)) == 24 and all(k and k.startswith("unmo-alert-") for k in keys)


def test_an_import_delivering_its_alerts_beside_a_notify_posts_each_once(unmo, workspace: Path,
                                                                        hook):
    """The paths that deliver what they just raised (feedback add/import, health) share
    deliver_pending with `alerts notify`: the import here, released while notify is posting."""
    slug = onboard(unmo, "TechStart Mobile")
    survey = _survey(workspace, slug, 16)
    marker = workspace.parent / "import-paused"
    importer = _spawn("feedback", "import", str(survey), "--json", UNMO_ALERT_WEBHOOK=hook.url,
                      UNMO_TEST_PAUSE_AT="import-deliver", UNMO_TEST_PAUSE_FILE=str(marker),
                      UNMO_TEST_PAUSE_S="120")
    try:
        _wait_for(marker, importer)  # committed, its 16 alerts pending, not yet delivered
        hook.answer_after_s = 0.1
        hook.on_request = lambda: marker.unlink(missing_ok=True)  # notify posts: import goes
        notifier = _spawn("alerts", "notify", "--json", UNMO_ALERT_WEBHOOK=hook.url)
        code, out, err = _finish(notifier)
    finally:
        marker.unlink(missing_ok=True)
    assert code == 0, err
    icode, iout, ierr = _finish(importer)
    assert icode == 0, ierr
    assert "could not deliver" not in ierr

    texts = [text for (text,) in query("SELECT text FROM alerts ORDER BY id")]
    assert len(texts) == 16
    _assert_each_posted_once(hook, texts)
    delivery = json.loads(iout)["delivery"]
    assert delivery["delivered"] + json.loads(out)["delivered"] == 16
    assert delivery["pending"] == 0


def test_a_health_run_delivering_its_alerts_beside_a_notify_posts_each_once(workspace: Path,
                                                                          hook):
    from support_health import PlayServer, make_customer

    (workspace / "unmo.yaml").write_text("alerts:\n  health_failure_threshold: 1\n")
    api = PlayServer()
    try:
        for n in range(8):
            api.plays[make_customer(f"failing-{n}").live] = "500"
        hook.answer_after_s = 0.3  # health's 8 posts take 2.4 s: the notify starts meanwhile
        notifiers: list[subprocess.Popen] = []

        def start_notify() -> None:
            if not notifiers:
                notifiers.append(_spawn("alerts", "notify", "--json",
                                        UNMO_ALERT_WEBHOOK=hook.url))

        hook.on_request = start_notify
        code, out, err = _finish(_spawn("health", "--format", "json", "--retries", "0",
                                        UNMO_API_URL=api.url, UNMO_ALERT_WEBHOOK=hook.url))
    finally:
        api.stop()
    assert code == 1, err  # every integration failing: exit 1, the alerts raised
    assert len(json.loads(out)["alerts"]) == 8
    assert "could not deliver" not in err
    assert len(notifiers) == 1
    ncode, _nout, nerr = _finish(notifiers[0])
    assert ncode == 0, nerr
    texts = [text for (text,) in query("SELECT text FROM alerts ORDER BY id")]
    _assert_each_posted_once(hook, texts)


# --- a webhook that accepts but answers too late ---------------------------------------------


@pytest.mark.slow  # two posts wait out the real 5 s timeout
def test_a_post_answered_after_the_timeout_is_not_repeated_in_that_run(unmo, workspace: Path,
                                                                     hook):
    slug = onboard(unmo, "TechStart Mobile")
    env = {"UNMO_ALERT_WEBHOOK": hook.url}
    hook.answer_after_s = 6.5  # takes the post, answers 200 after the 5 s timeout

    ran = unmo("feedback", "add", slug, "-s", "2", "--json", env=env)

    assert ran.exit_code == 0, ran.stderr
    assert len(hook.requests) == 1, "a post the webhook may have taken was sent again"
    assert ran.stderr.strip() == (
        "warning: could not deliver 1 alert to the webhook (no answer within 5 s after "
        "sending it; the webhook may have received it, so it is not retried in this run); it "
        "stays pending: run `unmo alerts notify` later.")
    [(_id, notified, attempts, claimed_by, _until)] = _delivery_rows()
    assert (notified, attempts, claimed_by) == (False, 1, None)

    late = unmo("alerts", "notify", env=env)  # still late: one post in this run, no more
    assert late.exit_code == 3
    assert "no answer within 5 s after sending it" in late.stderr
    assert "1 alert stays pending" in late.stderr
    assert len(hook.requests) == 2

    hook.answer_after_s = 0
    sent = unmo("alerts", "notify", "--json", env=env)
    assert sent.exit_code == 0, sent.stderr
    assert sent.json()["delivered"] == 1
    assert len(hook.requests) == 3  # one post per run: what the promise allows
    assert len({r.idempotency_key for r in hook.requests}) == 1, "a repeat must be recognisable"
    [(_id, notified, attempts, claimed_by, _until)] = _delivery_rows()
    assert (notified, attempts, claimed_by) == (True, 3, None)
    again = unmo("alerts", "notify", env=env)
    assert again.exit_code == 0 and len(hook.requests) == 3


def test_a_webhook_that_takes_the_post_and_hangs_up_gets_it_once_per_run(unmo, workspace: Path,
                                                                         hook):
    slug = onboard(unmo, "TechStart Mobile")
    hook.hang_up = True
    ran = unmo("feedback", "add", slug, "-s", "2", env={"UNMO_ALERT_WEBHOOK": hook.url})
    assert ran.exit_code == 0, ran.stderr
    assert len(hook.requests) == 1
    assert "the server closed the connection after sending it; the webhook may have received " \
        "it" in ran.stderr
    [(_id, notified, attempts, claimed_by, _until)] = _delivery_rows()
    assert (notified, attempts, claimed_by) == (False, 1, None)


def test_an_unreachable_webhook_is_still_retried(unmo, workspace: Path):
    """Only a post that may have arrived is not retried: a refused connection certainly did not."""
    import socket

    slug = onboard(unmo, "TechStart Mobile")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ran = unmo("feedback", "add", slug, "-s", "2",
               env={"UNMO_ALERT_WEBHOOK": f"http://127.0.0.1:{port}/hook"})
    assert "could not connect after 3 attempts" in ran.stderr
    assert [attempts for _i, _n, attempts, _c, _u in _delivery_rows()] == [3]


# --- a run killed mid-way --------------------------------------------------------------------


@pytest.mark.parametrize("step,posts_in_all", [("alert-claimed", 1), ("alert-posted", 2)])
def test_an_alert_held_by_a_killed_run_is_sent_once_its_claim_lapses(
        unmo, workspace: Path, hook, step: str, posts_in_all: int):
    """Killed after claiming (nothing posted yet) the alert is posted once in all; killed after
    the post but before recording it, the later run posts it again: the one duplicate the
    promise admits, with the same Idempotency-Key."""
    texts = _pending_alerts(unmo, workspace, 1)
    env = {"UNMO_ALERT_WEBHOOK": hook.url}
    marker = workspace.parent / "notify-paused"
    killed = _spawn("alerts", "notify", UNMO_ALERT_WEBHOOK=hook.url, UNMO_TEST_PAUSE_AT=step,
                    UNMO_TEST_PAUSE_FILE=str(marker), UNMO_TEST_PAUSE_S="120")
    _wait_for(marker, killed)
    _kill_9(killed)
    [(_id, notified, _attempts, claimed_by, until)] = _delivery_rows()
    assert not notified and claimed_by is not None and until is not None

    # While the claim holds, another run leaves the alert alone and says why.
    waiting = unmo("alerts", "notify", "--json", env=env)
    assert waiting.exit_code == 0, waiting.stderr
    assert waiting.json() == {"webhook": True, "delivered": 0, "failed": 0, "pending": 0,
                              "in_flight": 1, "error": None}
    told = unmo("alerts", "notify", env=env)
    assert told.exit_code == 0
    assert told.stderr.splitlines() == [
        "sent 0 alerts.",
        "1 alert is being sent by another unmo run; if that run stopped, `unmo alerts notify` "
        "sends it once its claim lapses (at most 5 minutes)."]
    assert len(hook.requests) == posts_in_all - 1

    _lapse_claims()
    sent = unmo("alerts", "notify", "--json", env=env)
    assert sent.exit_code == 0, sent.stderr
    assert sent.json()["delivered"] == 1
    assert Counter(hook.texts) == {texts[0]: posts_in_all}
    assert len({r.idempotency_key for r in hook.requests}) == 1
    [(_id, notified, _attempts, claimed_by, until)] = _delivery_rows()
    assert notified and claimed_by is None and until is None


# --- the migration -----------------------------------------------------------------------------


@pytest.mark.empty_database  # built up to 0004 from nothing
def test_alerts_of_a_0004_database_survive_the_claim_migration(unmo, workspace: Path, hook):
    """0005 adds the claim columns to a database that already holds alerts: every row is kept,
    notified ones stay notified, and the pending one is delivered once afterwards."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from unmo_cli.db import MIGRATIONS_DIR, SCHEMA_HEAD, open_database
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace(), upgrade=False)
    try:
        with db.engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO customers (id, slug, name_key, name, industry, integration, "
                "platforms, provider, events_per_day, mrr_cents, contact_name, contact_email, "
                "phase, created_at) VALUES (1, 'acme', 'acme', 'Acme', 'gaming', 's2s', '', "
                "'adjust', 1000, 10000, 'Dana Lee', 'dana@example.com', 'setup', "
                "'2026-11-01 09:00:00')"))
            connection.execute(text(
                "INSERT INTO alerts (id, customer_id, rule, text, score, created_at, "
                "notified_at, acked_at, attempts, last_error) VALUES "
                "(1, 1, 'low_satisfaction', 'unmo alert · low_satisfaction · Acme (acme)\nsent',"
                " 3.0, '2026-11-02 09:00:00', '2026-11-02 09:00:01', NULL, 1, NULL), "
                "(2, 1, 'detractor', 'unmo alert · detractor · Acme (acme)\nwaiting', 2.0, "
                "'2026-11-03 09:00:00', NULL, NULL, 3, 'HTTP 500 after 3 attempts'), "
                "(3, 1, 'detractor', 'unmo alert · detractor · Acme (acme)\nacked', 1.0, "
                "'2026-11-04 09:00:00', NULL, '2026-11-04 10:00:00', 0, NULL)"))
    finally:
        db.dispose()
    columns = "id, customer_id, rule, text, score, created_at, notified_at, acked_at, " \
              "attempts, last_error"
    before = query(f"SELECT {columns} FROM alerts ORDER BY id")
    assert len(before) == 3

    ran = unmo("db", "upgrade")

    assert ran.exit_code == 0, ran.stderr
    assert f"from 0004 to revision {SCHEMA_HEAD}" in ran.stderr
    assert query(f"SELECT {columns} FROM alerts ORDER BY id") == before
    assert query("SELECT claimed_by, claimed_until FROM alerts") == [(None, None)] * 3
    sent = unmo("alerts", "notify", "--json", env={"UNMO_ALERT_WEBHOOK": hook.url})
    assert sent.exit_code == 0, sent.stderr
    assert hook.texts == ["unmo alert · detractor · Acme (acme)\nwaiting"]
