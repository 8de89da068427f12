"""Owns the workspace's signing key and what it signs: survey tokens (the link a customer
follows), the survey form's CSRF token, and the digest that stands for a recipient's address.

The key is 32 random bytes in `.unmo/survey.key` (mode 0600 in the 0700 state folder, git-ignored
with `.unmo/`), created on first use, never in the database: a copy of the database alone cannot
forge a link. Everything is HMAC-SHA-256 (stdlib hmac), compared in constant time."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import stat
from datetime import UTC, datetime
from pathlib import Path

from unmo_cli.errors import EnvironmentFailure
from unmo_cli.workspace import Workspace, ensure_private_dir

KEY_FILE = "survey.key"
KEY_BYTES = 32
MAX_TOKEN_LENGTH = 128
_TOKEN = re.compile(r"([A-Za-z0-9_-]{22})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")
_FORM = re.compile(r"([0-9]{1,6})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


class BadToken(ValueError):
    """Not a token this workspace signed: malformed, forged or altered."""


def key_path(ws: Workspace) -> Path:
    return ws.state_dir / KEY_FILE


# Keys read by this process, by file: a server reads its key once (restart it after replacing
# the key file).
_known: dict[Path, bytes] = {}


def signing_key(ws: Workspace) -> bytes:
    """The workspace's key, created (owner-only) on first use. Two processes creating it at once
    agree: the file is created exclusively, and the loser reads the winner's."""
    path = key_path(ws)
    if path in _known:
        return _known[path]
    _known[path] = key = _signing_key(path)
    return key


def _signing_key(path: Path) -> bytes:
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    ensure_private_dir(path.parent)
    key = secrets.token_bytes(KEY_BYTES)
    temporary = path.with_name(f".{KEY_FILE}.{secrets.token_hex(6)}")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(base64.urlsafe_b64encode(key) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(temporary, path)
    except OSError as exc:
        raise EnvironmentFailure(f"cannot create the signing key {path}: "
                                 f"{exc.strerror}.") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        info = os.fstat(descriptor)
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise EnvironmentFailure(f"the signing key {path} can be read by others; make it "
                                     f"owner-only: chmod 600 {path}.")
        data = os.read(descriptor, 256)
    except OSError as exc:
        raise EnvironmentFailure(f"cannot read the signing key {path}: {exc.strerror}.") from None
    finally:
        os.close(descriptor)
    try:
        key = base64.urlsafe_b64decode(data.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise EnvironmentFailure(f"the signing key {path} is damaged; remove it to make a new "
                                 "one (survey links sent so far stop working).")
    return key


def _mac(key: bytes, purpose: bytes, payload: str) -> str:
    digest = hmac.new(key, purpose + b"\0" + payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_nonce() -> str:
    """An invitation's random name: 128 bits, 22 URL-safe characters."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")


def survey_token(key: bytes, nonce: str, expires_at: datetime) -> str:
    """`NONCE.EXPIRES.MAC`: URL-safe, what `/s/{token}` carries."""
    payload = f"{nonce}.{int(expires_at.timestamp())}"
    return f"{payload}.{_mac(key, b'survey', payload)}"


def read_survey_token(key: bytes, token: str) -> tuple[str, datetime]:
    """(nonce, expiry) of a token this key signed; BadToken otherwise. Expiry is the caller's
    to judge (an expired token is still genuine)."""
    match = _TOKEN.fullmatch(token) if len(token) <= MAX_TOKEN_LENGTH else None
    if match is None:
        raise BadToken("malformed")
    nonce, expires, mac = match.groups()
    if not hmac.compare_digest(mac, _mac(key, b"survey", f"{nonce}.{expires}")):
        raise BadToken("forged or altered")
    return nonce, datetime.fromtimestamp(int(expires), UTC)


def form_token(key: bytes, token: str, answers: int, issued_at: datetime) -> str:
    """The survey form's CSRF token: tied to the survey token and to how many answers the
    invitation had when the form was shown, so a form is good for one answer only."""
    payload = f"{answers}.{int(issued_at.timestamp())}"
    return f"{payload}.{_mac(key, b'form:' + token.encode('ascii'), payload)}"


def read_form_token(key: bytes, token: str, form: str) -> tuple[int, datetime]:
    """(answers when issued, issued at) of a genuine form token for `token`; BadToken
    otherwise."""
    match = _FORM.fullmatch(form) if len(form) <= MAX_TOKEN_LENGTH else None
    if match is None:
        raise BadToken("malformed")
    answers, issued, mac = match.groups()
    if not hmac.compare_digest(mac, _mac(key, b"form:" + token.encode("ascii"),
                                         f"{answers}.{issued}")):
        raise BadToken("forged or altered")
    return int(answers), datetime.fromtimestamp(int(issued), UTC)


def recipient_digest(key: bytes, address: str) -> str:
    """What the database keeps instead of a recipient's address: equal for equal addresses
    (case-folded), useless without the key."""
    return hmac.new(key, b"recipient\0" + address.strip().lower().encode("utf-8"),
                    hashlib.sha256).hexdigest()
