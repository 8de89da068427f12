"""A customer's answers to onboarding, validated: the vocabularies and bounds, one parser per
field (the same for options, prompts and --from files), the slug, the name key and the
look-alike key, and the validated CustomerInput."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import icu

from unmo_cli.documents import is_finite_number, too_long_for_int
from unmo_cli.errors import InputError, MissingFields
from unmo_cli.names import fold_to_ascii, name_key
from unmo_cli.text import MAX_NAME, plain_email, shown, text_problem
from unmo_cli.tiers import DEFAULT_TIER, TIER_RE

INDUSTRIES = ("gaming", "ecommerce", "fintech", "other")
INTEGRATIONS = ("sdk", "s2s", "hybrid")
PLATFORMS = ("ios", "android")
PROVIDERS = ("appsflyer", "adjust", "branch", "kochava", "singular", "none", "other")

MAX_SLUG = 48
MAX_EVENTS_PER_DAY = 2_000_000_000  # fits the 32-bit integer column on PostgreSQL
MAX_MRR_CENTS = 100_000_000  # $1,000,000 a month

# The answers, in the order they are asked; the CLI option that carries each.
FIELDS = ("name", "contact_name", "contact_email", "industry", "integration", "platforms",
          "events_per_day", "provider", "mrr", "success_manager", "tier")
OPTIONS = {name: "NAME" if name == "name" else "--" + name.replace("_", "-") for name in FIELDS}
REQUIRED = ("name", "contact_name", "contact_email", "industry", "integration", "platforms",
            "events_per_day", "provider", "mrr")


LOOK_ALIKE_REASON = ("their letters are confusable (such as the Cyrillic letter U+0430 for a "
                     "Latin a), so readers could not tell the two customers apart; choose a name "
                     "that reads differently")


class FieldError(ValueError):
    """One answer is invalid; the message reads after the field's name ("--mrr …")."""


# --- names ----------------------------------------------------------------------------------

# Folder names Windows refuses whatever the extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
             *(f"lpt{i}" for i in range(10))}


def slugify(name: str) -> str:
    """`TechStart Mobile` → `techstart-mobile`: ASCII lowercase letters, digits and single dashes,
    at most 48 characters; "" when nothing survives the folding."""
    slug = re.sub(r"[^a-z0-9]+", "-", fold_to_ascii(name).lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-")


def look_alike_key(name: str) -> str:
    """What a reader sees of `name`: Unicode's confusable skeleton (UTS #39, computed by ICU's
    SpoofChecker) of the case-folded name, letters and digits only. Names with one key read the
    same ("Аcme" with a Cyrillic А, "Acrne", "ACME"), so they are one customer, as names
    differing by case or punctuation are (name_key)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    skeleton = _spoof_checker().getSkeleton(0, folded)
    return "".join(char for char in skeleton if char.isalnum())


_checker: Any = None


def _spoof_checker() -> Any:
    global _checker
    if _checker is None:
        _checker = icu.SpoofChecker()
    return _checker


def _text(value: Any, what: str) -> str:
    if value is None or isinstance(value, (dict, list, tuple, bool)):
        raise FieldError(f"must be text, not {shown(value)}.")
    raw = str(value)
    problem = text_problem(raw)
    if problem:
        raise FieldError(f"{shown(raw.strip())} contains {problem}; use one line of plain text.")
    text = " ".join(raw.split())  # runs of spaces are one space, as in a mail header
    if not text:
        raise FieldError(f"must not be empty ({what}).")
    if len(text) > MAX_NAME:
        raise FieldError(f"is {len(text):,} characters long; at most {MAX_NAME} are accepted.")
    return text


def parse_name(value: Any) -> str:
    name = _text(value, "the customer's company or app name")
    slug = slugify(name)
    if not slug:
        raise FieldError(f"{name!r} has no letters or digits that fold to ASCII, so it cannot "
                         "name a folder; add a Latin spelling, e.g. 'Sakura Games さくら'.")
    if slug in _RESERVED:
        raise FieldError(f"{name!r} makes the folder name {slug!r}, which Windows reserves; "
                         "add a word, e.g. 'Con Games'.")
    return name


def parse_contact_name(value: Any) -> str:
    return _text(value, "a person or team at the customer")


def parse_email(value: Any) -> str:
    """An address `local@domain.tld` (no display name); the domain is lowercased."""
    if value is None or isinstance(value, (dict, list, tuple, bool)):
        raise FieldError(f"must be an e-mail address, not {shown(value)}.")
    text = str(value).strip()
    address = plain_email(text)
    if address is None:
        raise FieldError(f"{shown(text)} is not an e-mail address (e.g. "
                         "growth@techstart.example).")
    return address


def parse_optional_email(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_email(value)


def parse_tier(value: Any) -> str:
    """A service tier's name (default `standard`): lowercase letters, digits, - and _. Whether
    the workspace's `tiers:` names it is the caller's check (tiers.unknown_tier_problem)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_TIER
    tier = value.strip().lower() if isinstance(value, str) else None
    if tier is None or not TIER_RE.fullmatch(tier):
        raise FieldError(f"{shown(value)} is not a tier name; use lowercase letters, digits, - "
                         "and _ (e.g. standard, enterprise).")
    return tier


def _choice(value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower() if isinstance(value, str) else value
    if text not in choices:
        raise FieldError(f"{shown(value)} is not one of {', '.join(choices)}.")
    return text


def parse_industry(value: Any) -> str:
    return _choice(value, INDUSTRIES)


def parse_integration(value: Any) -> str:
    return _choice(value, INTEGRATIONS)


def parse_provider(value: Any) -> str:
    return _choice(value, PROVIDERS)


def parse_platforms(value: Any) -> tuple[str, ...]:
    """"ios,android", "ios" or a list; returned in a fixed order without repeats."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise FieldError(f"{shown(value)} must be ios, android or ios,android.")
    chosen = set()
    for item in items:
        if not isinstance(item, str):  # not str(): a YAML alias can make a nested list huge
            raise FieldError("must list platform names (ios, android), not "
                             f"{type(item).__name__} values.")
        text = item.strip().lower()
        if not text:
            continue
        if text not in PLATFORMS:
            raise FieldError(f"{shown(item)} is not a platform; use ios, android or "
                             "ios,android.")
        chosen.add(text)
    return tuple(p for p in PLATFORMS if p in chosen)


def parse_events_per_day(value: Any) -> int:
    """A whole number from 1 to MAX_EVENTS_PER_DAY: an int, a number a file gave as 5e4 or
    50000.0, or text ("50000", "50,000", "50_000"); anything else is refused, never an
    exception (a number of 5,000 digits included)."""
    if isinstance(value, (float, Decimal)) and is_finite_number(value):
        if not 1 <= value <= MAX_EVENTS_PER_DAY:
            raise FieldError(f"{shown(value)} is out of range; expected 1 to "
                             f"{MAX_EVENTS_PER_DAY:,}.")
        if value % 1:
            raise FieldError(f"{shown(value)} is not a whole number of events (e.g. 50000).")
        value = int(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if re.fullmatch(r"\d{1,3}(,\d{3})+", text):
            text = text.replace(",", "")
        if not re.fullmatch(r"\d+", text):
            raise FieldError(f"{shown(value)} is not a whole number of events (e.g. 50000).")
        if too_long_for_int(text):
            raise FieldError(f"a number of {len(text):,} digits is out of range; expected 1 to "
                             f"{MAX_EVENTS_PER_DAY:,}.")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"{shown(value)} is not a whole number of events (e.g. 50000).")
    if not 1 <= value <= MAX_EVENTS_PER_DAY:
        raise FieldError(f"{value} is out of range; expected 1 to {MAX_EVENTS_PER_DAY:,}.")
    return value


_AMOUNT = re.compile(r"(?P<whole>\d*)(?:\.(?P<fraction>\d*))?")


def parse_mrr(value: Any) -> int:
    """Monthly recurring revenue in dollars, up to cents ("2500", "2,500.50", "$99.9"); returns
    integer cents. Decided on the digits as written, never on a rounded number: any nonzero
    digit after the cents is refused, however far out ("2500.0000000000000000000000001")."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict, tuple)):
        raise FieldError(f"{shown(value)} is not an amount in dollars (e.g. 2500 or 2500.50).")
    if isinstance(value, Decimal) and value.is_finite() and abs(value.adjusted()) < 100:
        value = format(value, "f")  # 2.5E+3 from a file, as the digits it stands for
    text = str(value).strip().removeprefix("$").strip()
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d*)?", text):
        text = text.replace(",", "")
    match = _AMOUNT.fullmatch(text)
    if match is None or not (match.group("whole") or match.group("fraction")):
        raise FieldError(f"{shown(value)} is not an amount in dollars (e.g. 2500 or 2500.50).")
    whole = match.group("whole").lstrip("0") or "0"
    fraction = (match.group("fraction") or "").rstrip("0")
    if len(fraction) > 2:
        raise FieldError(f"{shown(value)} has fractions of a cent; give dollars with at most two "
                         "decimals.")
    if len(whole) > len(str(MAX_MRR_CENTS // 100)) or \
            int(whole) * 100 + int(fraction.ljust(2, "0")) > MAX_MRR_CENTS:
        raise FieldError(f"{shown(value)} is out of range; expected 0 to "
                         f"{MAX_MRR_CENTS // 100:,} dollars a month.")
    return int(whole) * 100 + int(fraction.ljust(2, "0"))


PARSERS: dict[str, Callable[[Any], Any]] = {
    "name": parse_name,
    "contact_name": parse_contact_name,
    "contact_email": parse_email,
    "industry": parse_industry,
    "integration": parse_integration,
    "platforms": parse_platforms,
    "events_per_day": parse_events_per_day,
    "provider": parse_provider,
    "mrr": parse_mrr,
    "success_manager": parse_optional_email,
    "tier": parse_tier,
}


# --- validated answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerInput:
    name: str
    contact_name: str
    contact_email: str
    industry: str
    integration: str
    platforms: tuple[str, ...]
    events_per_day: int
    provider: str
    mrr_cents: int
    success_manager: str | None = None
    tier: str = DEFAULT_TIER

    @property
    def slug(self) -> str:
        return slugify(self.name)

    @property
    def name_key(self) -> str:
        return name_key(self.name)


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple)):
        return bool(value)
    return True


def missing_fields(raw: dict[str, Any]) -> list[str]:
    """The required answers not given (platforms only for sdk and hybrid), in asking order."""
    integration = str(raw.get("integration") or "").strip().lower()
    missing = []
    for name in REQUIRED:
        if name == "platforms" and integration not in ("sdk", "hybrid"):
            continue
        if not _present(raw.get(name)):
            missing.append(name)
    return missing


def field_errors(raw: dict[str, Any], label: Callable[[str], str]) -> list[str]:
    """One sentence per invalid answer given; missing ones are not this function's business."""
    errors = []
    for name in FIELDS:
        value = raw.get(name)
        if not _present(value):
            continue
        try:
            parsed = PARSERS[name](value)
        except FieldError as exc:
            errors.append(f"{label(name)} {exc}")
            continue
        if name == "platforms" and not parsed:
            errors.append(f"{label(name)} must name ios, android or both.")
        elif name == "platforms" and _integration_of(raw) == "s2s":
            errors.append(f"{label(name)} is only for sdk and hybrid integrations; drop it for "
                          "an s2s customer.")
    return errors


def _integration_of(raw: dict[str, Any]) -> str | None:
    try:
        return parse_integration(raw.get("integration"))
    except FieldError:
        return None


def validate(raw: dict[str, Any], *, label: Callable[[str], str] = OPTIONS.__getitem__
             ) -> CustomerInput:
    """Every answer checked before anything is written: MissingFields listing all the missing
    ones, else InputError with every invalid one."""
    missing = missing_fields(raw)
    if missing:
        raise MissingFields([label(name) for name in missing])
    errors = field_errors(raw, label)
    if errors:
        raise InputError("; ".join(e.rstrip(".") for e in errors) + ".")
    return build_input(raw)


def build_input(raw: dict[str, Any]) -> CustomerInput:
    return CustomerInput(
        name=parse_name(raw["name"]),
        contact_name=parse_contact_name(raw["contact_name"]),
        contact_email=parse_email(raw["contact_email"]),
        industry=parse_industry(raw["industry"]),
        integration=parse_integration(raw["integration"]),
        platforms=parse_platforms(raw.get("platforms")),
        events_per_day=parse_events_per_day(raw["events_per_day"]),
        provider=parse_provider(raw["provider"]),
        mrr_cents=parse_mrr(raw["mrr"]),
        success_manager=parse_optional_email(raw.get("success_manager")),
        tier=parse_tier(raw.get("tier")),
    )
