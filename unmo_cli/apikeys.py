"""API key format: `unmo_{pk|sk}_{live|test}_` + 22 random base62 characters (131 bits from
`secrets`) + a 6-character base62 CRC32 checksum of everything before it, so a mistyped or
truncated key is caught offline. Pure functions; the database keeps hashes and hints."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 22  # 22 × log2(62) ≈ 131 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32, so any CRC32 fits
KINDS = {"publishable": "pk", "secret": "sk"}
ENVIRONMENTS = ("live", "test")
_KEY_RE = re.compile(
    rf"^unmo_(?P<kind>pk|sk)_(?P<env>live|test)_"
    rf"(?P<body>[0-9A-Za-z]{{{RANDOM_LENGTH}}})(?P<check>[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
)


@dataclass(frozen=True)
class KeyShape:
    kind: str  # publishable | secret
    environment: str  # live | test


class MalformedKey(ValueError):
    """Not an unmo key, or its checksum does not match (a typo or a truncated copy)."""


def prefix(kind: str, environment: str) -> str:
    return f"unmo_{KINDS[kind]}_{environment}_"


def _base62(number: int, width: int) -> str:
    chars = []
    while number:
        number, rest = divmod(number, 62)
        chars.append(ALPHABET[rest])
    return "".join(reversed(chars)).rjust(width, "0")


def checksum(text: str) -> str:
    return _base62(zlib.crc32(text.encode("ascii")), CHECKSUM_LENGTH)


def generate(kind: str, environment: str) -> str:
    if kind not in KINDS or environment not in ENVIRONMENTS:
        raise ValueError(f"unknown key kind/environment {kind}/{environment}")
    head = prefix(kind, environment) + "".join(
        secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH)
    )
    return head + checksum(head)


def parse(key: str) -> KeyShape:
    """The kind and environment of a well-formed key; MalformedKey otherwise."""
    match = _KEY_RE.match(key.strip())
    if not match:
        raise MalformedKey("not of the form unmo_{pk|sk}_{live|test}_ followed by 28 letters "
                           "and digits")
    head = key.strip()[: -CHECKSUM_LENGTH]
    if not hmac.compare_digest(checksum(head), match.group("check")):
        raise MalformedKey("its checksum does not match: it was mistyped or truncated")
    kind = "publishable" if match.group("kind") == "pk" else "secret"
    return KeyShape(kind=kind, environment=match.group("env"))


def hint(key: str) -> str:
    """What is shown instead of the key: its prefix and last four characters."""
    match = re.match(r"^(unmo_(?:pk|sk)_(?:live|test)_)", key)
    head = match.group(1) if match else ""
    # A malformed key's tail is whatever was typed: shown only if it looks like a key's.
    tail = key[-4:] if re.fullmatch(r"[0-9A-Za-z]{4}", key[-4:]) else ""
    return f"{head}…{tail}"


def hash_key(key: str) -> str:
    """SHA-256 hex of the whole key: what the database keeps for secret keys."""
    return hashlib.sha256(key.strip().encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
