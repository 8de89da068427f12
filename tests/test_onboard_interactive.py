"""`unmo onboard` in a terminal: questionary prompts driven through a real pseudo-terminal."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import query
from support_onboarding import Terminal

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


def _terminal(workspace: Path, *args: str) -> Terminal:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
    env["UNMO_WORKSPACE"] = str(workspace)
    if "UNMO_DATABASE_URL" in os.environ:  # the PostgreSQL pass: this test's own database
        env["UNMO_DATABASE_URL"] = os.environ["UNMO_DATABASE_URL"]
    return Terminal(["onboard", *args], env, workspace)


def test_prompts_ask_only_what_is_missing_validate_and_confirm(workspace: Path):
    term = _terminal(workspace, "Pty Games", "--contact-name", "Ann", "--provider", "adjust")
    try:
        term.expect("Contact e-mail")
        term.send("nope\r")
        term.expect("is not an e-mail address")  # the same check as --contact-email
        term.send("\x7f" * 4 + "ann@pty.example\r")
        term.expect("Industry")
        term.send("\x1b[B\r")  # arrow down: ecommerce
        term.expect("Integration")
        term.send("\x1b[B\x1b[B\r")  # hybrid
        term.expect("Platforms")
        term.send(" \r")  # untick ios, keep android
        term.expect("Expected events per day")
        term.send("\x7f" * 5 + "0\r")
        term.expect("out of range")
        term.send("\x7f" + "75000\r")
        term.expect("MRR in dollars")
        term.send("\r")  # the default, 2500
        term.expect("Success manager")
        term.send("\r")
        term.expect("Onboard Pty Games?")
        assert "customers/pty-games/" in term.seen
        assert "$2,500.00" in term.seen  # the summary shows money as every command does
        term.send("y")
        assert term.wait() == 0, term.seen[-2000:]
    finally:
        term.kill()
    assert "Onboarded Pty Games" in term.seen
    row = query("SELECT contact_email, industry, integration, platforms, events_per_day, "
                "provider, mrr_cents FROM customers")
    assert row == [("ann@pty.example", "ecommerce", "hybrid", "android", 75000, "adjust",
                    250000)]
    assert query("SELECT mode, outcome FROM onboarding_sessions") == [("interactive", "success")]
    steps = [n for n, in query("SELECT name FROM onboarding_steps ORDER BY position")]
    assert steps[0] == "collect_answers" and "move_into_place" in steps
    assert (workspace / "customers" / "pty-games" / "sdk" / "server").is_dir()
    assert not (workspace / "customers" / "pty-games" / "sdk" / "ios").exists()


def test_ctrl_c_cancels_and_records_a_cancelled_session(workspace: Path):
    term = _terminal(workspace)
    try:
        term.expect("Customer (company or app) name")
        term.send("Half Done\r")
        term.expect("Contact person or team")
        term.send("\x03")
        code = term.wait()
    finally:
        term.kill()
    assert code == 130
    assert "onboarding cancelled" in term.seen
    assert query("SELECT customer_id, customer_name, mode, outcome FROM onboarding_sessions") == [
        (None, "Half Done", "interactive", "cancelled")]
    assert query("SELECT name, outcome FROM onboarding_steps") == [
        ("collect_answers", "cancelled")]
    assert query("SELECT count(*) FROM customers") == [(0,)]
    assert not (workspace / "customers").exists()


def test_answering_no_at_the_confirm_cancels(workspace: Path):
    term = _terminal(workspace, "Almost", "--contact-name", "A", "--contact-email", "a@b.example",
                     "--industry", "other", "--integration", "s2s", "--events-per-day", "5",
                     "--provider", "none")
    try:
        term.expect("MRR in dollars")
        term.send("\r")
        term.expect("Success manager")
        term.send("\r")
        term.expect("Onboard Almost?")
        term.send("n")
        assert term.wait() == 130
    finally:
        term.kill()
    assert query("SELECT outcome FROM onboarding_sessions") == [("cancelled",)]
    assert query("SELECT count(*) FROM customers") == [(0,)]


def test_a_taken_name_is_refused_while_typing(unmo, workspace: Path):
    from support_onboarding import onboard

    onboard(unmo, "Taken Co")
    term = _terminal(workspace)
    try:
        term.expect("Customer (company or app) name")
        term.send("TAKEN-co\r")
        term.expect("already onboarded as 'Taken Co'")
        term.send("\x03")
        assert term.wait() == 130
    finally:
        term.kill()


def test_a_bad_flag_is_reported_before_any_question(workspace: Path):
    term = _terminal(workspace, "Flagged", "--mrr", "lots")
    try:
        code = term.wait()
    finally:
        term.kill()
    assert code == 2
    assert "--mrr 'lots' is not an amount" in term.seen
    assert not (workspace / ".unmo").exists()
