"""Owns SMTP: the one module that talks to a mail server (the standard library's smtplib), and
the rule for the server's URL. It sends one `EmailMessage` and says how the attempt ended, in
terms a caller can act on: delivered to the server, certainly not delivered, or unknown."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from unmo_cli.errors import EnvironmentFailure
from unmo_cli.urls import is_loopback_host

if TYPE_CHECKING:
    from email.message import EmailMessage

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
ACCEPTED = "smtp://USER@HOST:587 (STARTTLS) or smtps://USER@HOST:465"

# How an attempt ended.
SENT = "sent"  # the server accepted the message (250 after DATA)
FAILED = "failed"  # certainly not delivered: no connection, refused before or at DATA
UNKNOWN = "unknown"  # the connection broke or timed out after the message was handed over


def smtp_url_problem(url: str) -> str | None:
    """Why `url` is not an SMTP server unmo sends through, as words that read after it, or None.
    A password is refused here: it belongs in UNMO_SMTP_PASSWORD, never in unmo.yaml."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return f"is not a valid URL; use {ACCEPTED}"
    if parts.scheme not in DEFAULT_PORTS or not url.startswith(parts.scheme + "://"):
        return f"is not an smtp:// or smtps:// URL; use {ACCEPTED}"
    if not parts.hostname:
        return f"names no host; use {ACCEPTED}"
    if parts.password is not None:
        return ("carries a password, which would sit in clear in the settings; put it in the "
                "environment variable UNMO_SMTP_PASSWORD and leave it out of the URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"has a path, query or fragment; use {ACCEPTED}"
    if any(ch.isspace() for ch in url):
        return f"contains whitespace; use {ACCEPTED}"
    return None


def address_problem(text: str) -> str | None:
    """Why `text` is not one e-mail address (with or without a display name), or None."""
    # lazy: the settings check every command makes calls this only for an address that is set
    from email.headerregistry import Address
    from email.utils import getaddresses

    if any(ch in text for ch in "\r\n"):
        return "holds a line break"
    found = getaddresses([text])
    if len(found) != 1 or not found[0][1] or "@" not in found[0][1]:
        return "is not one e-mail address"
    local, _, domain = found[0][1].rpartition("@")
    try:
        Address(display_name=found[0][0], username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        return f"is not an address a header can hold ({exc})"
    return None


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send: from `email.smtp_url` and UNMO_SMTP_PASSWORD."""

    scheme: str
    host: str
    port: int
    user: str | None
    password: str | None
    timeout_s: float

    @property
    def shown(self) -> str:
        """The server as people read it: no password (there is none in the URL)."""
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{user}{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return is_loopback_host(self.host)


def smtp_server(url: str | None, password: str | None, timeout_s: float) -> SmtpServer:
    """The server named by `email.smtp_url`; EnvironmentFailure (exit 3) when none is set, or a
    user is named without UNMO_SMTP_PASSWORD."""
    if not url:
        raise EnvironmentFailure("no mail server is set: set email.smtp_url in unmo.yaml (or "
                                 f"UNMO_SMTP_URL), e.g. {ACCEPTED}.")
    problem = smtp_url_problem(url)
    if problem:  # settings were checked on load; this keeps another caller from skipping that
        raise EnvironmentFailure(f"email.smtp_url {problem}.")
    parts = urlsplit(url)
    user = unquote(parts.username) if parts.username else None
    if user and not password:
        raise EnvironmentFailure(f"email.smtp_url names the user {user!r} but "
                                 "UNMO_SMTP_PASSWORD is not set; export the password there.")
    assert parts.hostname is not None
    return SmtpServer(parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme],
                      user, password or None, timeout_s)


@dataclass(frozen=True)
class Attempt:
    """How one sending ended: `outcome` SENT, FAILED or UNKNOWN, and the server's answer (or
    what went wrong) as one line."""

    outcome: str
    answer: str


def _answer(code: int | None, text: bytes | str | None) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    line = " ".join((text or "").split())
    return f"{code} {line}".strip() if code is not None else line


def send(server: SmtpServer, message: EmailMessage) -> Attempt:
    """Hand `message` to `server`: TLS from the start (smtps) or STARTTLS (smtp), which a server
    other than a loopback one must offer; login when a user is named; then MAIL, RCPT, DATA.
    Never raises for what the server or the network does: the Attempt says it."""
    # lazy: smtplib, ssl and the e-mail modules only to send; every command's settings check
    # imports this module for smtp_url_problem and address_problem
    import smtplib
    import ssl
    from email.policy import SMTP as SMTP_POLICY
    from email.utils import getaddresses

    context = ssl.create_default_context()
    handed_over = False
    client: smtplib.SMTP | None = None
    try:
        if server.scheme == "smtps":
            client = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout_s,
                                      context=context)
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=server.timeout_s)
        client.ehlo()
        if server.scheme == "smtp":
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif not server.loopback:
                return Attempt(FAILED, f"{server.shown} does not offer STARTTLS, and unmo sends "
                               "mail in clear only to a loopback server (127.0.0.1, [::1] or "
                               "localhost); use a server with STARTTLS or smtps://")
        if server.user:
            assert server.password is not None
            client.login(server.user, server.password)
        sender = _envelope_sender(message)
        recipients = [address for _name, address in getaddresses(
            message.get_all("To", []) + message.get_all("Cc", []))]
        code, text = client.mail(sender)
        if code != 250:
            return Attempt(FAILED, "the server refused the sender: " + _answer(code, text))
        for recipient in recipients:
            code, text = client.rcpt(recipient)
            if code not in (250, 251):
                return Attempt(FAILED, "the server refused the recipient: "
                               + _answer(code, text))
        data = message.as_bytes(policy=SMTP_POLICY)
        handed_over = True  # from here on, a broken connection leaves the outcome unknown
        code, text = client.data(data)
        if code != 250:
            return Attempt(FAILED, "the server refused the message: " + _answer(code, text))
        answer = _answer(code, text)
        # The message was accepted; a failed goodbye changes nothing.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client = None
        return Attempt(SENT, answer)
    except smtplib.SMTPResponseException as exc:
        outcome = UNKNOWN if handed_over and exc.smtp_code < 400 else FAILED
        answer = _answer(exc.smtp_code, exc.smtp_error)
        return Attempt(outcome, f"{server.shown} answered: {answer}")
    except TimeoutError:
        return Attempt(UNKNOWN if handed_over else FAILED,
                       f"{server.shown} did not answer within {server.timeout_s:g} s")
    except ssl.SSLError as exc:
        return Attempt(UNKNOWN if handed_over else FAILED,
                       f"TLS with {server.shown} failed: {exc.reason or exc}")
    except (smtplib.SMTPException, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return Attempt(UNKNOWN if handed_over else FAILED,
                       f"cannot talk to {server.shown}: {' '.join(reason.split())}")
    finally:
        if client is not None:
            with contextlib.suppress(OSError):
                client.close()


def _envelope_sender(message: EmailMessage) -> str:
    from email.utils import getaddresses  # lazy: as in send, which alone calls this

    found = getaddresses(message.get_all("From", []))
    return found[0][1] if found else ""
