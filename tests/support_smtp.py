"""A real SMTP server on 127.0.0.1 for the e-mail tests: aiosmtpd in a thread, keeping every
message it accepts (as bytes, with whether it came over TLS), optionally refusing a recipient,
stalling after DATA, or requiring STARTTLS and a login."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Mailbox:
    port: int
    received: list[bytes] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse_rcpt: bool = False
    stall_s: float = 0.0

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(data, _class=EmailMessage, policy=email.policy.default)
                for data in self.received]

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if self.refuse_rcpt:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.received.append(envelope.original_content)
        self.tls.append(session.ssl is not None)
        if self.stall_s:
            await asyncio.sleep(self.stall_s)
        return "250 2.0.0 queued as unmo-test"


@contextmanager
def smtp_server(*, tls: ssl.SSLContext | None = None, users: dict[str, str] | None = None
                ) -> Iterator[Mailbox]:
    """aiosmtpd on 127.0.0.1 at a free port; with `tls`, STARTTLS is offered and required; with
    `users`, AUTH LOGIN/PLAIN checks them."""
    box = Mailbox(free_port())

    def authenticate(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and users and \
                users.get(auth_data.login.decode()) == auth_data.password.decode():
            box.logins.append(auth_data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    options = {}
    if tls is not None:
        options.update(tls_context=tls, require_starttls=True)
    if users is not None:
        options.update(authenticator=authenticate, auth_require_tls=tls is not None)
    controller = Controller(box, hostname="127.0.0.1", port=box.port, **options)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
