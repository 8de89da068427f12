"""`unmo email send` and `unmo onboard --send-welcome`: the welcome e-mail onboarding wrote,
handed to a real SMTP server (aiosmtpd on 127.0.0.1), parsed back with the standard library,
and recorded once per request (a failure marks nothing sent; an unknown outcome is not sent
again blindly). Settings: the SMTP URL never carries a password."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
import trustme
from conftest import query
from support_onboarding import flags, onboard
from support_smtp import smtp_server

SETTINGS = ("email:\n  smtp_url: smtp://127.0.0.1:{port}\n"
            "  from: 'Kim at UnMoGrowP <kim@unmogrowp.example>'\n"
            "  reply_to: success@unmogrowp.example\n  timeout_s: {timeout}\n")


def _configure(workspace: Path, port: int, *, timeout: float = 5, url: str | None = None
               ) -> None:
    text = SETTINGS.format(port=port, timeout=timeout)
    if url is not None:
        text = text.replace(f"smtp://127.0.0.1:{port}", url)
    (workspace / "unmo.yaml").write_text(text, encoding="utf-8")


def _sendings() -> list[tuple]:
    return query("SELECT kind, request_key, outcome, attempts, message_id, recipient_digest "
                 "FROM email_sendings ORDER BY id")


def test_welcome_is_sent_as_onboarding_wrote_it_and_only_once(unmo, workspace: Path):
    slug = onboard(unmo)["customer"]["slug"]
    written = email.message_from_bytes(
        (workspace / "customers" / slug / "email/welcome.eml").read_bytes(),
        policy=email.policy.default)
    with smtp_server() as box:
        _configure(workspace, box.port)
        ran = unmo("email", "send", slug, "welcome", "--json")
        assert ran.exit_code == 0, ran.stderr
        again = unmo("email", "send", slug, "welcome", "--json")
    assert again.exit_code == 0, again.stderr
    assert len(box.received) == 1, "sent twice for one request"
    message = box.messages()[0]
    assert message["To"].addresses[0].addr_spec == "growth@techstart.example"
    assert str(message["From"]) == "Kim at UnMoGrowP <kim@unmogrowp.example>"
    assert str(message["Reply-To"]) == "success@unmogrowp.example"
    assert message["Subject"] == written["Subject"]
    assert message["Message-ID"] == written["Message-ID"]
    assert message.get_body(("plain",)).get_content() == \
        written.get_body(("plain",)).get_content()
    assert "Publishable key (live)" in message.get_body(("html",)).get_content()
    document = ran.json()
    assert document["outcome"] == "sent" and document["message_id"] == written["Message-ID"]
    assert document["to"] == "…@techstart.example"  # the domain only: no person in the output
    assert "growth@" not in ran.stdout
    assert again.json()["outcome"] == "already_sent"
    rows = _sendings()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [("welcome", "welcome", "sent", 1)]
    assert "growth@techstart.example" not in repr(rows), "the address is stored in clear"
    assert len(rows[0][5]) == 64


def test_text_output_names_the_outcome(unmo, workspace: Path):
    slug = onboard(unmo)["customer"]["slug"]
    with smtp_server() as box:
        _configure(workspace, box.port)
        ran = unmo("email", "send", slug, "welcome")
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout.startswith("Sent the welcome e-mail to techstart-mobile (…@techstart."
                                 "example)")
    assert "250" in ran.stdout


def test_dry_run_sends_and_writes_nothing(unmo, workspace: Path, unchanged):
    slug = onboard(unmo)["customer"]["slug"]
    with smtp_server() as box:
        _configure(workspace, box.port)
        before = _sendings()
        ran = unmo("email", "send", slug, "welcome", "--dry-run", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["outcome"] == "would_send"
    assert box.received == [] and _sendings() == before == []


def test_a_refused_recipient_is_exit_3_with_the_answer_and_nothing_marked_sent(
        unmo, workspace: Path):
    slug = onboard(unmo)["customer"]["slug"]
    with smtp_server() as box:
        box.refuse_rcpt = True
        _configure(workspace, box.port)
        ran = unmo("email", "send", slug, "welcome")
        assert ran.exit_code == 3
        assert "550 5.1.1 mailbox unavailable" in ran.stderr
        assert "Traceback" not in ran.stderr and "growth@" not in ran.stderr
        assert [r[2] for r in _sendings()] == ["failed"]
        box.refuse_rcpt = False
        retried = unmo("email", "send", slug, "welcome", "--json")
    assert retried.exit_code == 0, retried.stderr
    assert len(box.received) == 1
    assert [(r[2], r[3]) for r in _sendings()] == [("sent", 2)]


def test_no_server_listening_is_exit_3(unmo, workspace: Path):
    from support_smtp import free_port

    slug = onboard(unmo)["customer"]["slug"]
    _configure(workspace, free_port())
    ran = unmo("email", "send", slug, "welcome")
    assert ran.exit_code == 3
    assert "cannot talk to smtp://127.0.0.1:" in ran.stderr
    assert [r[2] for r in _sendings()] == ["failed"]


def test_a_timeout_after_data_is_not_resent_blindly(unmo, workspace: Path):
    slug = onboard(unmo)["customer"]["slug"]
    with smtp_server() as box:
        box.stall_s = 3
        _configure(workspace, box.port, timeout=1)
        ran = unmo("email", "send", slug, "welcome")
        assert ran.exit_code == 3
        assert "may or may not have arrived" in ran.stderr
        assert [r[2] for r in _sendings()] == ["unknown"]
        retry = unmo("email", "send", slug, "welcome")
        assert retry.exit_code == 3
        assert "--retry-unknown" in retry.stderr
        assert len(box.received) == 1, "a retry after a timeout sent it again"
        box.stall_s = 0
        forced = unmo("email", "send", slug, "welcome", "--retry-unknown")
    assert forced.exit_code == 0, forced.stderr
    assert len(box.received) == 2
    first, second = box.messages()
    assert first["Message-ID"] == second["Message-ID"]  # a receiver can drop the repeat
    assert [(r[2], r[3]) for r in _sendings()] == [("sent", 2)]


def test_starttls_and_login_with_the_password_from_the_environment(
        unmo, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    context = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    slug = onboard(unmo)["customer"]["slug"]
    with smtp_server(tls=context, users={"unmo": "s3cret pass"}) as box:
        _configure(workspace, box.port, url=f"smtp://unmo@127.0.0.1:{box.port}")
        missing = unmo("email", "send", slug, "welcome")
        assert missing.exit_code == 3 and "UNMO_SMTP_PASSWORD" in missing.stderr
        ran = unmo("email", "send", slug, "welcome", env={"UNMO_SMTP_PASSWORD": "s3cret pass"})
    assert ran.exit_code == 0, ran.stderr
    assert box.tls == [True] and box.logins == ["unmo"]
    assert "s3cret" not in ran.stdout + ran.stderr


def test_plain_smtp_to_a_host_that_is_not_literally_loopback_is_refused(unmo, workspace: Path):
    """`127.1` reaches this machine, but the loopback rule trusts only literal loopback
    addresses and `localhost`: without STARTTLS nothing is handed over."""
    slug = onboard(unmo)["customer"]["slug"]
    with smtp_server() as box:
        _configure(workspace, box.port, url=f"smtp://127.1:{box.port}")
        ran = unmo("email", "send", slug, "welcome")
    assert ran.exit_code == 3
    assert "does not offer STARTTLS" in ran.stderr
    assert box.received == []
    assert [r[2] for r in _sendings()] == ["failed"]


@pytest.mark.parametrize(("url", "problem"), [
    ("smtp://unmo:hunter2@mail.example:587", "carries a password"),
    ("http://mail.example", "is not an smtp:// or smtps:// URL"),
    ("smtps://", "names no host"),
    ("smtp://mail.example:587/path", "has a path"),
])
def test_smtp_urls_that_are_refused_on_load(unmo, workspace: Path, url, problem):
    (workspace / "unmo.yaml").write_text(f"email:\n  smtp_url: '{url}'\n", encoding="utf-8")
    ran = unmo("email", "send", "techstart-mobile", "welcome")
    assert ran.exit_code == 2
    assert problem in ran.stderr
    assert "hunter2" not in ran.stderr
    assert sorted(p.name for p in workspace.iterdir()) == ["unmo.yaml"]  # nothing written


def test_sender_addresses_are_checked(unmo, workspace: Path):
    (workspace / "unmo.yaml").write_text("email:\n  from: 'not an address'\n", encoding="utf-8")
    ran = unmo("config", "show")
    assert ran.exit_code == 2 and "email.from" in ran.stderr


def test_no_server_configured_is_exit_3_and_writes_nothing(unmo, workspace: Path):
    slug = onboard(unmo)["customer"]["slug"]
    ran = unmo("email", "send", slug, "welcome")
    assert ran.exit_code == 3 and "email.smtp_url" in ran.stderr
    assert _sendings() == []


def test_unknown_customer_and_kind(unmo, workspace: Path):
    onboard(unmo)
    assert unmo("email", "send", "nobody", "welcome").exit_code == 2
    bad = unmo("email", "send", "techstart-mobile", "invoice")
    assert bad.exit_code == 2 and "invoice" in bad.stderr


def test_onboard_send_welcome(unmo, workspace: Path):
    with smtp_server() as box:
        _configure(workspace, box.port)
        ran = unmo("onboard", "TechStart Mobile", *flags(), "--yes", "--send-welcome")
    assert ran.exit_code == 0, ran.stderr
    assert len(box.received) == 1
    assert box.messages()[0]["Subject"] == "Welcome to UnMoGrowP, TechStart Mobile"
    assert [r[2] for r in _sendings()] == ["sent"]


def test_onboard_send_welcome_without_a_server_onboards_nothing(unmo, workspace: Path):
    ran = unmo("onboard", "TechStart Mobile", *flags(), "--yes", "--send-welcome")
    assert ran.exit_code == 3 and "email.smtp_url" in ran.stderr
    assert not (workspace / "customers" / "techstart-mobile").exists()
