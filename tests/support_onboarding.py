"""Shared helpers of the onboarding, customer and keys tests."""

from __future__ import annotations

import re
from pathlib import Path

KEY_RE = re.compile(r"unmo_(?:pk|sk)_(?:live|test)_[0-9A-Za-z]{28}")
HINT_RE = re.compile(r"unmo_(?:pk|sk)_(?:live|test)_…[0-9A-Za-z]{4}")

FLAGS = {
    "sdk": ["--contact-name", "Growth Team", "--contact-email", "growth@techstart.example",
            "--industry", "gaming", "--integration", "sdk", "--platforms", "ios,android",
            "--events-per-day", "50000", "--provider", "appsflyer", "--mrr", "2500"],
    "s2s": ["--contact-name", "Data Engineering", "--contact-email", "data@ecomgrowth.example",
            "--industry", "ecommerce", "--integration", "s2s", "--events-per-day", "100000",
            "--provider", "adjust", "--mrr", "2500.50"],
    "hybrid": ["--contact-name", "Mobile Platform", "--contact-email", "mobile@fintrack.example",
               "--industry", "fintech", "--integration", "hybrid", "--platforms", "ios",
               "--events-per-day", "75000", "--provider", "branch", "--mrr", "99.99"],
}


def flags(integration: str = "sdk", **overrides: str) -> list[str]:
    """The options of a complete onboarding, with some replaced (`mrr="abc"`) or dropped
    (`mrr=None`)."""
    args = list(FLAGS[integration])
    for name, value in overrides.items():
        option = "--" + name.replace("_", "-")
        if option in args:
            at = args.index(option)
            del args[at:at + 2]
        if value is not None:
            args += [option, value]
    return args


def onboard(unmo, name: str = "TechStart Mobile", integration: str = "sdk", *extra: str,
            **overrides: str):
    ran = unmo("onboard", name, *flags(integration, **overrides), "--yes", "--json", *extra)
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


def secret_keys(folder: Path) -> dict[str, str]:
    values = {}
    for line in (folder / ".env").read_text().splitlines():
        if line.startswith("UNMO_") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def mask_keys(text: str) -> str:
    return HINT_RE.sub("<hint>", KEY_RE.sub("<key>", text))
