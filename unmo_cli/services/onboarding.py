"""Onboarding: validating a customer's answers, then creating its record, keys and folder all or
nothing, with every step timed (monotonic clock) and recorded as an onboarding session.

All or nothing: the folder is rendered into `customers/.tmp-<slug>-<token>` beside its target,
the database transaction commits, and only then is the folder renamed into place; if the rename
fails the rows are deleted again (compensation) and the temporary folder removed. A process killed
before the commit leaves only a temporary folder, which the next onboarding removes; one killed
between the commit and the rename leaves a complete temporary folder whose `.env` matches the
committed keys, which the next onboarding moves into place (roll forward).

Every timed step is a test-only failure and pause point (unmo_cli/testhooks.py), so tests can
prove what a failure or a kill at each step leaves behind."""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import icu
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import col, delete, or_, select

from unmo_cli import apikeys, clock, documents, testhooks
from unmo_cli.db import database_exists, open_database
from unmo_cli.db.models import ApiKey, Customer, OnboardingSession, OnboardingStep
from unmo_cli.documents import DocumentError, is_finite_number, too_long_for_int
from unmo_cli.errors import EnvironmentFailure, InputError, MissingFields
from unmo_cli.names import fold_to_ascii, name_key
from unmo_cli.progress import ProgressFactory
from unmo_cli.services.customer_folder import (
    ENV_FILE,
    CustomerProfile,
    FolderKeys,
    read_env_file,
    refuse_linked_customers_dir,
    render_customer_folder,
    secret_keys_from_env,
    write_folder,
)
from unmo_cli.services.customers import customer_json, keys_of
from unmo_cli.text import MAX_NAME, shown, text_problem
from unmo_cli.urls import PRODUCTION_API_URL, customer_url_problem
from unmo_cli.workspace import ensure_gitignore

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.db import Database
    from unmo_cli.db.models import Customer
    from unmo_cli.workspace import Workspace

INDUSTRIES = ("gaming", "ecommerce", "fintech", "other")
INTEGRATIONS = ("sdk", "s2s", "hybrid")
PLATFORMS = ("ios", "android")
PROVIDERS = ("appsflyer", "adjust", "branch", "kochava", "singular", "none", "other")
MODES = ("interactive", "flags", "batch")

MAX_SLUG = 48
MAX_EVENTS_PER_DAY = 2_000_000_000  # fits the 32-bit integer column on PostgreSQL
MAX_MRR_CENTS = 100_000_000  # $1,000,000 a month
TEMP_PREFIX = ".tmp-"

# The answers, in the order they are asked; the CLI option that carries each.
FIELDS = ("name", "contact_name", "contact_email", "industry", "integration", "platforms",
          "events_per_day", "provider", "mrr", "success_manager")
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


_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_RE = re.compile(rf"^(?P<local>{_LOCAL})@(?P<domain>{_LABEL}(?:\.{_LABEL})+)$")


def parse_email(value: Any) -> str:
    """An address `local@domain.tld` (no display name); the domain is lowercased."""
    if value is None or isinstance(value, (dict, list, tuple, bool)):
        raise FieldError(f"must be an e-mail address, not {shown(value)}.")
    text = str(value).strip()
    match = _EMAIL_RE.match(text) if len(text) <= 254 else None
    if not match or len(match.group("local")) > 64:
        raise FieldError(f"{shown(text)} is not an e-mail address (e.g. "
                         "growth@techstart.example).")
    return f"{match.group('local')}@{match.group('domain').lower()}"


def parse_optional_email(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_email(value)


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
    return _build(raw)


def _build(raw: dict[str, Any]) -> CustomerInput:
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
    )


# --- --from FILE ------------------------------------------------------------------------------


def load_customer_file(path: Path) -> list[dict[str, Any]]:
    """The records of a YAML or JSON file holding one customer (a mapping) or a list of them.
    Field names are those of the options, with `_` or `-` (contact_email, contact-email)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--from {str(path)!r}: no such file.") from None
    except IsADirectoryError:
        raise InputError(f"--from {str(path)!r} is a folder; give a YAML or JSON file.") from None
    except UnicodeDecodeError:
        raise InputError(f"--from {str(path)!r} is not UTF-8 text.") from None
    except OSError as exc:
        raise EnvironmentFailure(f"cannot read {path}: {exc.strerror}.") from None
    try:
        data = _load_document(path, text)
    except DocumentError as exc:
        where = f" line {exc.line}:" if exc.line else ""
        raise InputError(f"{path}:{where} {exc}; expected a customer mapping or a list of "
                         "them.") from None
    records = [data] if isinstance(data, dict) else data
    if not isinstance(records, list) or not records:
        raise InputError(f"{path} holds no customers; expected a mapping of fields or a list of "
                         "them.")
    normalised = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InputError(f"{path}: record {number} is not a mapping of fields "
                             f"({', '.join(FIELDS)}).")
        fields = {str(k).strip().replace("-", "_"): v for k, v in record.items()}
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise InputError(f"{path}: record {number} has unknown "
                             f"{'field' if len(unknown) == 1 else 'fields'} "
                             f"{', '.join(unknown)}; known fields: {', '.join(FIELDS)}.")
        normalised.append(fields)
    return normalised


def _load_document(path: Path, text: str) -> Any:
    """The document in a --from file: JSON by its extension, else YAML (JSON is YAML too)."""
    import yaml  # lazy: PyYAML only for a --from file; one onboarding from options needs none

    if path.suffix.lower() == ".json":
        try:
            return documents.load_json(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"{exc.msg}", exc.lineno) from None

    try:
        return documents.load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DocumentError(problem, mark.line + 1 if mark else None) from None


def validate_records(records: list[dict[str, Any]], source: str) -> list[tuple[CustomerInput,
                                                                                float]]:
    """Every record validated, each with the time it took; all problems reported at once, and
    names that collide inside the file are refused too."""
    problems: list[str] = []
    valid: list[tuple[CustomerInput, float]] = []
    seen: dict[str, int] = {}
    for number, record in enumerate(records, start=1):
        began = clock.monotonic()
        title = f"record {number}"
        if isinstance(record.get("name"), str) and record["name"].strip():
            title += f" ({record['name'].strip()[:MAX_NAME]})"
        missing = missing_fields(record)
        errors = field_errors(record, lambda name: name)
        if missing:
            errors.insert(0, "missing " + ", ".join(missing))
        if errors:
            problems.append(f"{title}: " + "; ".join(e.rstrip(".") for e in errors))
            continue
        item = _build(record)
        earlier = seen.setdefault(item.name_key, number)
        if earlier != number:
            problems.append(f"{title}: the same customer as record {earlier} (names differing "
                            "only by case or punctuation are one customer)")
            continue
        earlier = seen.setdefault("look:" + look_alike_key(item.name), number)
        if earlier != number:
            problems.append(f"{title}: looks like record {earlier}: {LOOK_ALIKE_REASON}")
            continue
        valid.append((item, clock.monotonic() - began))
    if problems:
        count = len(problems)
        raise InputError(f"{source}: {count} of {len(records)} "
                         f"{'record is' if len(records) == 1 else 'records are'} invalid, so "
                         f"nothing was onboarded: " + "; ".join(problems) + ".")
    return valid


# --- steps and timing ----------------------------------------------------------------------

@dataclass
class StepTimes:
    """The named, timed steps of one onboarding, in order."""

    steps: list[tuple[str, float, str]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = clock.monotonic()
        try:
            testhooks.checkpoint(name)
            yield
        except BaseException:
            self.steps.append((name, clock.monotonic() - began, "failed"))
            raise
        self.steps.append((name, clock.monotonic() - began, "success"))

    def add(self, name: str, duration: float, outcome: str = "success") -> None:
        self.steps.append((name, duration, outcome))

    @property
    def total(self) -> float:
        return sum(duration for _, duration, _ in self.steps)

    def as_json(self) -> list[dict[str, Any]]:
        return [{"name": n, "duration_s": round(d, 6)} for n, d, _ in self.steps]


# --- results ----------------------------------------------------------------------------------


@dataclass
class OnboardResult:
    customer: dict[str, Any]
    directory: str
    files: list[str]
    keys: list[dict[str, str]]
    onboarding: dict[str, Any] | None
    dry_run: bool = False
    # Full keys, only for --show-secrets; never part of repr or the default JSON.
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # What could not be done after the commit (the command shows them on stderr).
    warnings: list[str] = field(default_factory=list)

    def as_json(self, *, show_secrets: bool = False) -> dict[str, Any]:
        keys = [dict(k) for k in self.keys]
        if show_secrets:
            for item in keys:
                item["key"] = self.secrets.get(f"{item['kind']}_{item['environment']}")
        document: dict[str, Any] = {
            "customer": self.customer,
            "directory": self.directory,
            "files": self.files,
            "keys": keys,
            "onboarding": self.onboarding,
        }
        if self.dry_run:
            document["dry_run"] = True
        return document


@dataclass
class _Work:
    """One customer on its way in."""

    item: CustomerInput
    times: StepTimes
    started_at: datetime
    began: float
    customer: Customer | None = None
    session_row: Any = None
    keys: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    files: list[str] = field(default_factory=list)
    temporary: Path | None = None
    placed: bool = False
    recorded_steps: int = 0
    rendered: dict[str, bytes] | None = field(default=None, repr=False)


# --- the workspace side: pre-flight, locking, recovery ----------------------------------------


def preflight(ws: Workspace, items: list[CustomerInput], db: Database | None = None) -> None:
    """Refuse, before writing anything, names already onboarded and folders already present."""
    problems = []
    taken: dict[str, str] = {}
    # Folders first, then the database: a racing onboarding commits before it moves its folder
    # into place, so a folder seen here belongs to a customer the database already shows; read
    # the other way round, the winner's commit and move could fall between the two reads and
    # its folder be reported as one without a customer.
    folders_present = {item.slug: ws.customer_dir(item.slug).exists()
                       or ws.customer_dir(item.slug).is_symlink() for item in items}
    if items and (db is not None or database_exists(ws)):
        taken = _taken_names(ws, items, db)
    for item in items:
        existing = taken.get(item.name_key) or taken.get("slug:" + item.slug)
        look_alike = taken.get("look:" + look_alike_key(item.name))
        folder = ws.customer_dir(item.slug)
        if existing:
            problems.append(f"{item.name!r} is already onboarded as {existing} (names differing "
                            "only by case or punctuation are one customer)")
        elif look_alike:
            problems.append(f"{item.name!r} looks like {look_alike}: {LOOK_ALIKE_REASON}")
        elif folders_present[item.slug]:
            problems.append(f"the folder {ws.relative(folder)} already exists but no customer "
                            f"{item.slug!r} is in the database; move it away or delete it, then "
                            "onboard again")
    if problems:
        raise InputError("; ".join(problems) + ".")


def name_taken(ws: Workspace, name: str) -> str | None:
    """Why `name` cannot be onboarded in this workspace (already a customer, or its folder
    exists), or None; for checking an answer as it is typed."""
    try:
        item_name = parse_name(name)
    except FieldError:
        return None
    slug, key = slugify(item_name), name_key(item_name)
    if database_exists(ws):
        probe = CustomerInput(name=item_name, contact_name="", contact_email="", industry="",
                              integration="", platforms=(), events_per_day=0, provider="",
                              mrr_cents=0)
        taken = _taken_names(ws, [probe])
        existing = taken.get(key) or taken.get("slug:" + slug)
        if existing:
            return f"already onboarded as {existing}"
        look_alike = taken.get("look:" + look_alike_key(item_name))
        if look_alike:
            return f"looks like {look_alike}: {LOOK_ALIKE_REASON}"
    if ws.customer_dir(slug).exists():
        return f"the folder customers/{slug} already exists"
    return None


def _taken_names(ws: Workspace, items: list[CustomerInput], shared: Database | None = None
                 ) -> dict[str, str]:
    db = shared or open_database(ws)
    taken: dict[str, str] = {}
    try:
        with db.session() as session:
            keys = [i.name_key for i in items]
            slugs = [i.slug for i in items]
            for chunk in range(0, len(items), 500):
                rows = session.exec(select(Customer.name_key, Customer.slug, Customer.name).where(
                    or_(col(Customer.name_key).in_(keys[chunk:chunk + 500]),
                        col(Customer.slug).in_(slugs[chunk:chunk + 500]))))
                for key, slug, name in rows:
                    taken[key] = taken["slug:" + slug] = f"{name!r} ({slug})"
            # Look-alikes share no column to ask for, so every name is compared (one query;
            # ICU computes thousands of skeletons in milliseconds).
            for slug, name in session.exec(select(Customer.slug, Customer.name)):
                taken.setdefault("look:" + look_alike_key(name), f"{name!r} ({slug})")
    finally:
        if shared is None:
            db.dispose()
    return taken


@contextmanager
def _customers_lock(ws: Workspace, session: Session) -> Iterator[None]:
    """Onboardings in flight hold a shared lock on customers/; stale temporary folders are only
    touched under the exclusive lock, i.e. when no other onboarding is running."""

    folder = ws.customers_dir
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # someone is onboarding: their temporary folders are not stale
        else:
            recover_interrupted(ws, session)
            session.commit()  # end the read so the inserts start a fresh transaction
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def recover_if_idle(ws: Workspace, db: Database) -> list[str]:
    """Before the pre-flight check: finish or sweep what killed onboardings left, unless an
    onboarding is running. So the retry of an onboarding killed after its commit finds the
    folder in place (and the name taken), not a stray temporary folder."""

    folder = ws.customers_dir
    if not folder.is_dir() or not any(folder.glob(TEMP_PREFIX + "*")):
        return []
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []  # someone is onboarding: their temporary folders are not stale
        with db.session() as session:
            return recover_interrupted(ws, session)
    finally:
        os.close(fd)  # releases the lock


def recover_interrupted(ws: Workspace, session: Session) -> list[str]:
    """Finish or undo onboardings a killed process left behind (call under the exclusive lock).
    A temporary folder whose `.env` matches a committed customer's secret keys, and whose target
    is absent, is moved into place; any other is removed. Returns the slugs moved into place."""

    moved = []
    for temporary in sorted(ws.customers_dir.glob(TEMP_PREFIX + "*")):
        match = re.fullmatch(re.escape(TEMP_PREFIX) + r"([a-z0-9-]+)-[0-9a-f]{8}", temporary.name)
        target = ws.customer_dir(match.group(1)) if match else None
        if match and target is not None and not target.exists() and not target.is_symlink() \
                and temporary.is_dir() and not temporary.is_symlink():
            customer = session.exec(select(Customer).where(Customer.slug == match.group(1))
                                    ).first()
            if customer is not None and _env_matches(session, customer, temporary):
                os.rename(temporary, target)
                moved.append(customer.slug)
                continue
        shutil.rmtree(temporary, ignore_errors=True)
    return moved


def _env_matches(session: Session, customer: Customer, folder: Path) -> bool:
    secret = secret_keys_from_env(read_env_file(folder / ENV_FILE))
    if secret is None:
        return False
    hashes = {k.environment: k.key_hash for k in keys_of(session, customer, active_only=True)
              if k.kind == "secret"}
    return all(env in hashes and apikeys.same_hash(apikeys.hash_key(secret[env]), hashes[env])
               for env in ("live", "test"))


# --- onboarding -------------------------------------------------------------------------------


def _profile(item: CustomerInput, created_at: datetime) -> CustomerProfile:
    return CustomerProfile(
        slug=item.slug, name=item.name, industry=item.industry, integration=item.integration,
        platforms=item.platforms, provider=item.provider, events_per_day=item.events_per_day,
        mrr_cents=item.mrr_cents, contact_name=item.contact_name,
        contact_email=item.contact_email, success_manager=item.success_manager,
        created_at=created_at,
    )


def _customer_row(item: CustomerInput, created_at: datetime) -> Customer:
    return Customer(
        slug=item.slug, name_key=item.name_key, name=item.name, industry=item.industry,
        integration=item.integration, platforms=",".join(item.platforms),
        provider=item.provider, events_per_day=item.events_per_day, mrr_cents=item.mrr_cents,
        contact_name=item.contact_name, contact_email=item.contact_email,
        success_manager=item.success_manager, phase="setup",
        created_at=clock.to_db(created_at),
    )


def _key_list(keys: dict[tuple[str, str], str] | None) -> list[dict[str, str]]:
    listing = []
    for kind in ("publishable", "secret"):
        for environment in apikeys.ENVIRONMENTS:
            shown = (apikeys.hint(keys[(kind, environment)]) if keys
                     else apikeys.prefix(kind, environment) + "…")
            listing.append({"kind": kind, "environment": environment, "hint": shown})
    return listing


def onboard(ws: Workspace, raw: dict[str, Any], *, mode: str = "flags", dry_run: bool = False,
            prior_steps: list[tuple[str, float, str]] | None = None) -> OnboardResult:
    """Onboard one customer from its answers (option names as keys; see FIELDS)."""
    testhooks.reset()
    times = StepTimes(list(prior_steps or []))
    began = clock.monotonic()
    started_at = clock.now()
    with times.step("validate"):
        item = validate(raw)
    return _onboard_all(ws, [(item, times, began, started_at)], mode=mode, dry_run=dry_run)[0]


def onboard_file(ws: Workspace, path: Path, given: dict[str, Any], *, dry_run: bool = False,
                 progress: ProgressFactory | None = None) -> list[OnboardResult]:
    """`onboard --from FILE`: every answer comes from the file, so answers also `given` as
    options (None when not) are refused; then onboard_records, advancing `progress`."""
    options = [OPTIONS[name] for name, value in given.items() if value is not None]
    if options:
        raise InputError(f"--from takes every field from the file; drop {', '.join(options)}.")
    records = load_customer_file(path)
    if progress is None:
        return onboard_records(ws, records, str(path), dry_run=dry_run)
    with progress(len(records), "Onboarding") as advance:
        return onboard_records(ws, records, str(path), dry_run=dry_run, advance=advance)


def onboard_records(ws: Workspace, records: list[dict[str, Any]], source: str, *,
                    dry_run: bool = False, advance: Callable[[int], None] | None = None
                    ) -> list[OnboardResult]:
    """Onboard the customers of a --from file (see load_customer_file) as one unit: every record
    is validated first (all problems reported at once, nothing written), then all are created in
    one transaction and moved into place together; if anything fails, none of them remains."""
    testhooks.reset()
    began = clock.monotonic()
    started_at = clock.now()
    prepared = []
    for item, duration in validate_records(records, source):
        times = StepTimes()
        times.add("validate", duration)
        prepared.append((item, times, began, started_at))
    return _onboard_all(ws, prepared, mode="batch", dry_run=dry_run, advance=advance)


def _onboard_all(ws: Workspace, prepared: list[tuple[CustomerInput, StepTimes, float, datetime]],
                 *, mode: str, dry_run: bool,
                 advance: Callable[[int], None] | None = None) -> list[OnboardResult]:
    assert mode in MODES
    check_public_url(ws)
    items = [p[0] for p in prepared]
    works = [_Work(item=i, times=t, began=b, started_at=s) for i, t, b, s in prepared]
    if dry_run:
        preflight(ws, items)
        return [_dry_run(ws, w) for w in works]

    existing = open_database(ws) if database_exists(ws) else None
    try:
        return _onboard_into(ws, works, existing, mode=mode, advance=advance)
    finally:
        if existing is not None:
            existing.dispose()


def _onboard_into(ws: Workspace, works: list[_Work], existing: Database | None, *, mode: str,
                  advance: Callable[[int], None] | None) -> list[OnboardResult]:
    items = [w.item for w in works]
    refuse_linked_customers_dir(ws.relative, ws.customers_dir)
    if existing is not None:
        recover_if_idle(ws, existing)
    preflight(ws, items, existing)
    # Keys and every file in memory first, so a template error writes nothing at all.
    for work in works:
        _render(ws, work)
        if advance is not None:
            advance(1)

    with _shared_step(works, "prepare_workspace"):
        try:
            ws.customers_dir.mkdir(parents=True, exist_ok=True)
            ensure_gitignore(ws.root)
        except OSError as exc:
            raise EnvironmentFailure(f"cannot write the workspace at {ws.root}: "
                                     f"{exc.strerror}.") from None
        db = existing or open_database(ws)
    try:
        with db.session() as session, _customers_lock(ws, session):
            try:
                _create(ws, session, works, mode)
                with _shared_step(works, "commit"):
                    session.commit()
            except IntegrityError:
                session.rollback()
                _remove_temporaries(works)
                raise InputError(_collision_message(items)) from None
            except BaseException as exc:
                session.rollback()
                _remove_temporaries(works)
                if not isinstance(exc, InputError):
                    _record_failure(db, works, mode, exc)
                raise
            _move_into_place(ws, db, works, mode)
        warnings = _finish_sessions(db, works)
    finally:
        if existing is None:
            db.dispose()
    results = [_result(ws, w) for w in works]
    for result in results:
        result.warnings = warnings
    return results


def check_public_url(ws: Workspace) -> str:
    """The URL new customers are given (api.public_url); an InputError when no customer could
    use it: it names this machine (the sandbox's http://127.0.0.1:8787/v1, say) or is not https.
    The demo onboards with the default, so it never meets this."""

    url = ws.settings.api.public_url
    problem = customer_url_problem(url)
    if problem:
        if os.environ.get("UNMO_API_PUBLIC_URL"):
            origin = "UNMO_API_PUBLIC_URL"
        else:
            origin = f"api.public_url in {ws.config_file}" if ws.config_file else "api.public_url"
        raise InputError(f"{origin} {url!r} {problem}, so it cannot go into a new customer's "
                         f"files; set it to the platform's URL (the default is "
                         f"{PRODUCTION_API_URL}) and point api.base_url at the sandbox instead.")
    return url.rstrip("/")


def _collision_message(items: list[CustomerInput]) -> str:
    names = ", ".join(repr(i.name) for i in items[:5])
    return (f"{names} {'is' if len(items) == 1 else 'are'} already onboarded (another onboarding "
            "took the name or folder meanwhile; names differing only by case or punctuation are "
            "one customer).")


def _render(ws: Workspace, work: _Work) -> None:
    with work.times.step("generate_keys"):
        for kind in ("publishable", "secret"):
            for environment in apikeys.ENVIRONMENTS:
                work.keys[(kind, environment)] = apikeys.generate(kind, environment)
    keys = FolderKeys(
        publishable={e: work.keys[("publishable", e)] for e in apikeys.ENVIRONMENTS},
        secret_hints={e: apikeys.hint(work.keys[("secret", e)]) for e in apikeys.ENVIRONMENTS},
        secret={e: work.keys[("secret", e)] for e in apikeys.ENVIRONMENTS},
    )
    with work.times.step("render_files"):
        work.rendered = render_customer_folder(
            ws.templates_dir, _profile(work.item, work.started_at), keys,
            ws.settings.api.public_url)
        work.files = sorted(work.rendered)


def _create(ws: Workspace, session: Session, works: list[_Work], mode: str) -> None:
    """Files first, rows second: the folders are written before the first INSERT, so the
    database's write lock is held only for the inserts and the commit."""

    for work in works:
        item, times = work.item, work.times
        files = dict(work.rendered or {})
        secret_file = files.pop(ENV_FILE)
        work.rendered = None
        with times.step("write_files"):
            work.temporary = ws.customers_dir / f"{TEMP_PREFIX}{item.slug}-{secrets.token_hex(4)}"
            try:
                work.temporary.mkdir()
                write_folder(work.temporary, files)
            except OSError as exc:
                raise EnvironmentFailure(f"cannot write {ws.relative(work.temporary)}: "
                                         f"{exc.strerror}.") from None
        with times.step("write_secrets"):
            try:
                write_folder(work.temporary, {ENV_FILE: secret_file})
            except OSError as exc:
                raise EnvironmentFailure(f"cannot write the .env of {item.slug}: "
                                         f"{exc.strerror}.") from None

    # The rows in a few bulk statements (a thousand customers are a handful of INSERTs); the
    # time of a shared statement is divided among the customers it served.
    with _shared_step(works, "create_record"):
        for work in works:
            work.customer = _customer_row(work.item, work.started_at)
        session.add_all([w.customer for w in works])
        session.flush()
        session.execute(insert(ApiKey), [
            {"customer_id": w.customer.id, "kind": kind, "environment": environment,
             "key_hash": apikeys.hash_key(key), "hint": apikeys.hint(key),
             "publishable_value": key if kind == "publishable" else None,
             "created_at": clock.to_db(w.started_at)}
            for w in works if w.customer is not None
            for (kind, environment), key in w.keys.items()])
    with _shared_step(works, "record_session"):
        finished = clock.to_db(clock.now())
        for work in works:
            assert work.customer is not None
            work.session_row = OnboardingSession(
                customer_id=work.customer.id, customer_name=work.item.name, mode=mode,
                outcome="success", started_at=clock.to_db(work.started_at),
                finished_at=finished, duration_s=work.times.total)
        session.add_all([w.session_row for w in works])
        session.flush()
        session.execute(insert(OnboardingStep), [
            {"session_id": w.session_row.id, "position": n, "name": name, "duration_s": d,
             "outcome": o}
            for w in works for n, (name, d, o) in enumerate(w.times.steps, start=1)])
        for work in works:
            work.recorded_steps = len(work.times.steps)


@contextmanager
def _shared_step(works: list[_Work], name: str) -> Iterator[None]:
    """A step done once for all `works`: each records an equal share of its time (a failure is
    recorded on the first)."""
    began = clock.monotonic()
    try:
        testhooks.checkpoint(name)
        yield
    except BaseException:
        works[0].times.add(name, clock.monotonic() - began, "failed")
        raise
    share = (clock.monotonic() - began) / len(works)
    for work in works:
        work.times.add(name, share)


def _move_into_place(ws: Workspace, db: Database, works: list[_Work], mode: str) -> None:
    """After the commit: rename every temporary folder into place; if one cannot be, undo them
    all (rows deleted, folders removed) so the file stays one unit."""
    current: _Work | None = None
    try:
        for work in works:
            current = work
            with work.times.step("move_into_place"):
                assert work.temporary is not None
                target = ws.customer_dir(work.item.slug)
                if target.exists() or target.is_symlink():
                    raise EnvironmentFailure(f"{ws.relative(target)} appeared while onboarding; "
                                             "nothing was onboarded.")
                os.rename(work.temporary, target)
                work.placed = True
    except BaseException as exc:
        name = current.item.slug if current else "?"
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).rstrip(".")
        try:
            _compensate(ws, db, works, mode, exc)
        except Exception as undo:  # noqa: BLE001 - a full disk fails the undo too: say so
            waiting = [ws.relative(w.temporary) for w in works
                       if not w.placed and w.temporary is not None and w.temporary.exists()]
            why = str(undo).rstrip(".") if isinstance(undo, EnvironmentFailure) else (
                type(undo).__name__)
            raise EnvironmentFailure(
                f"cannot move the folder of {name} into place ({reason}), nor undo the "
                f"onboarding ({why}): {_names(works)} stay onboarded"
                + (f", with {', '.join(waiting)} to be renamed to customers/<slug> once there "
                   "is room (the next unmo onboard does it)" if waiting else "") + ".") from None
        if isinstance(exc, OSError):
            raise EnvironmentFailure(f"cannot move the folder of {name} into place: "
                                     f"{reason}; nothing was onboarded.") from None
        raise


def _compensate(ws: Workspace, db: Database, works: list[_Work], mode: str,
                exc: BaseException) -> None:
    ids = [w.customer.id for w in works if w.customer is not None]
    session_ids = [w.session_row.id for w in works if w.session_row is not None]
    with db.session() as session:
        session.exec(delete(OnboardingSession).where(  # type: ignore[call-overload]
            col(OnboardingSession.id).in_(session_ids)))
        session.exec(delete(ApiKey).where(col(ApiKey.customer_id).in_(ids)))  # type: ignore
        session.exec(delete(Customer).where(col(Customer.id).in_(ids)))  # type: ignore
    for work in works:
        if work.placed:
            shutil.rmtree(ws.customer_dir(work.item.slug), ignore_errors=True)
    _remove_temporaries(works)
    _record_failure(db, works, mode, exc)


def _remove_temporaries(works: list[_Work]) -> None:
    for work in works:
        if work.temporary is not None and work.temporary.exists():
            shutil.rmtree(work.temporary, ignore_errors=True)


def _record_failure(db: Database, works: list[_Work], mode: str, exc: BaseException) -> None:
    """A failed onboarding is recorded on its own, without customer rows."""
    outcome = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
    reason = str(exc) if isinstance(exc, EnvironmentFailure) else type(exc).__name__
    try:
        with db.session() as session:
            for work in works:
                _add_session(session, work.item.name, mode, outcome, reason, work.started_at,
                             work.times)
    except Exception:  # noqa: BLE001 - the original failure is what the user must see
        pass


def record_cancelled(ws: Workspace, name: str | None, mode: str, duration_s: float,
                     steps: list[tuple[str, float, str]] | None = None) -> None:
    """An onboarding the user cancelled (Ctrl-C at a prompt or "no" at the confirm)."""

    times = StepTimes(list(steps or [("collect_answers", duration_s, "cancelled")]))
    db = open_database(ws)
    try:
        with db.session() as session:
            _add_session(session, name or "", mode, "cancelled", "cancelled by the user",
                         clock.now(), times)
    finally:
        db.dispose()


def _add_session(session: Session, name: str, mode: str, outcome: str, error: str | None,
                 started_at: datetime, times: StepTimes) -> None:
    row = OnboardingSession(customer_id=None, customer_name=name[:MAX_NAME], mode=mode,
                            outcome=outcome, error=error, started_at=clock.to_db(started_at),
                            finished_at=clock.to_db(clock.now()), duration_s=times.total)
    session.add(row)
    session.flush()
    session.add_all(OnboardingStep(session_id=row.id, position=n, name=step, duration_s=d,
                                   outcome=o) for n, (step, d, o) in enumerate(times.steps, 1))


def _finish_sessions(db: Database, works: list[_Work]) -> list[str]:
    """Add the steps that could only be timed after the commit (record_session, commit,
    move_into_place) and the final durations. The customers are onboarded by now, so a failure
    here (a full disk, a lost server) must not say otherwise: it becomes a warning, and the
    sessions keep the steps and durations recorded at the commit."""

    try:
        testhooks.fail_at("finish_sessions")
        _record_timings(db, works)
    except (EnvironmentFailure, SQLAlchemyError, OSError) as exc:
        reason = str(exc).rstrip(".") if isinstance(exc, EnvironmentFailure) else (
            exc.strerror if isinstance(exc, OSError) else type(exc).__name__)
        done = "is" if len(works) == 1 else "are"
        return [f"{_names(works)} {done} onboarded, but the timing of the last steps could not "
                f"be recorded ({reason}); `customer show` gives the durations up to the "
                "commit."]
    return []


def _names(works: list[_Work]) -> str:
    names = ", ".join(w.item.slug for w in works[:3])
    return names + (f" and {len(works) - 3} more" if len(works) > 3 else "")


def _record_timings(db: Database, works: list[_Work]) -> None:
    finished = clock.to_db(clock.now())
    with db.session() as session:
        session.execute(insert(OnboardingStep), [
            {"session_id": w.session_row.id, "position": w.recorded_steps + n, "name": name,
             "duration_s": d, "outcome": o}
            for w in works
            for n, (name, d, o) in enumerate(w.times.steps[w.recorded_steps:], start=1)])
        session.execute(update(OnboardingSession), [
            {"id": w.session_row.id, "duration_s": w.times.total, "finished_at": finished}
            for w in works])


def _result(ws: Workspace, work: _Work) -> OnboardResult:
    assert work.customer is not None
    return OnboardResult(
        customer=customer_json(work.customer),
        directory=ws.relative(ws.customer_dir(work.item.slug)),
        files=work.files,
        keys=_key_list(work.keys),
        onboarding={"duration_s": round(work.times.total, 6), "steps": work.times.as_json()},
        secrets={f"{k}_{e}": v for (k, e), v in work.keys.items()},
    )


def _dry_run(ws: Workspace, work: _Work) -> OnboardResult:
    """What would be created, computed in memory with placeholder keys; nothing is written."""

    placeholder = {(k, e): apikeys.prefix(k, e) + "0" * 28
                   for k in ("publishable", "secret") for e in apikeys.ENVIRONMENTS}
    keys = FolderKeys(
        publishable={e: placeholder[("publishable", e)] for e in apikeys.ENVIRONMENTS},
        secret_hints={e: apikeys.prefix("secret", e) + "…" for e in apikeys.ENVIRONMENTS},
        secret={e: placeholder[("secret", e)] for e in apikeys.ENVIRONMENTS},
    )
    files = render_customer_folder(ws.templates_dir, _profile(work.item, work.started_at), keys,
                                   ws.settings.api.public_url)
    return OnboardResult(
        customer=customer_json(_customer_row(work.item, work.started_at)),
        directory=ws.relative(ws.customer_dir(work.item.slug)),
        files=sorted(files), keys=_key_list(None), onboarding=None, dry_run=True,
    )
