"""The one place errors become exit codes: usage errors, unexpected failures, closed pipes."""

from __future__ import annotations

import subprocess
import sys


def test_usage_error_is_exit_2_without_traceback(unmo):
    ran = unmo("report", "weekly", "--bogus")
    assert ran.exit_code == 2
    assert "--bogus" in ran.stderr and "Traceback" not in ran.stderr


def test_a_closed_pipe_is_not_reported_as_a_bug(workspace):
    """`unmo … | head` stops reading early: exit like SIGPIPE (141), nothing on stderr."""
    onboard = [sys.executable, "-m", "unmo_cli", "onboard", "--from",
               str(workspace.parent.parent / "pilots.yaml")]
    (workspace.parent.parent / "pilots.yaml").write_text(
        "".join(f"- name: Pipe Customer {i}\n  industry: other\n  integration: s2s\n"
                f"  events_per_day: 10\n  provider: none\n  mrr: 1\n  contact_name: A\n"
                f"  contact_email: a{i}@example.com\n" for i in range(200)))
    assert subprocess.run(onboard, capture_output=True).returncode == 0
    # 200 customers of JSON is well over a pipe's 64 KiB buffer, so the writer meets the close
    reader = subprocess.Popen([sys.executable, "-m", "unmo_cli", "customer", "list", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert reader.stdout is not None
    reader.stdout.read(10)
    reader.stdout.close()  # the reader goes away after ten bytes
    _, stderr = reader.communicate(timeout=60)
    assert reader.returncode == 141, stderr
    assert b"bug" not in stderr and b"Traceback" not in stderr


def test_unexpected_failure_is_one_sentence_and_debug_shows_the_traceback(workspace):
    (workspace / ".unmo").write_text("not a folder")  # the state folder cannot be created
    plain = subprocess.run([sys.executable, "-m", "unmo_cli", "db", "upgrade"],
                           capture_output=True, text=True)
    assert plain.returncode in (2, 3)
    assert "Traceback" not in plain.stderr and len(plain.stderr.strip().splitlines()) == 1
