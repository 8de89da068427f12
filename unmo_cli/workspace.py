"""Owns the workspace: where it is, its settings (unmo.yaml + environment), its folders and
.gitignore. Nothing else reads unmo.yaml or UNMO_* settings variables (UNMO_ACTOR: `actor`).

Over 500 lines as one module: the settings are one table (each key, its environment variable,
its type and its check, read in one pass over unmo.yaml); splitting it would put a setting in one
module and the rule that refuses its bad values in another."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from unmo_cli.documents import too_long_for_int, whole_number
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.text import plain_email, shown, text_problem
from unmo_cli.urls import PRODUCTION_API_URL, url_problem

if TYPE_CHECKING:
    # Imported where they are read (unmo.yaml's `playbooks:` and `tiers:`, the e-mail settings'
    # rules): every command loads the settings, few use these (0.05 G instructions).
    from unmo_cli.playbooks import Playbook
    from unmo_cli.tiers import Tier

CONFIG_NAME = "unmo.yaml"
# Numeric settings are thresholds, targets, weights and costs: a finite number no larger than
# this (a trillion), so every figure computed from them stays an ordinary finite number.
MAX_SETTING_NUMBER = 1e12
MAX_SETTING_INT = 1_000_000_000_000
STATE_DIR = ".unmo"

# --- settings schema: nested dataclasses are the schema; defaults are the contract's ----------


@dataclass(frozen=True)
class ApiSettings:
    """`base_url` is what unmo itself calls (`unmo health`; the sandbox by default);
    `public_url` is what new customers are given in their files (the platform's production API)."""

    base_url: str = "http://127.0.0.1:8787/v1"
    public_url: str = PRODUCTION_API_URL
    timeout_s: float = 5.0


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str | None = None
    satisfaction_below: float = 7
    drop_points: float = 10
    health_failure_threshold: int = 3
    health_success_threshold: int = 2


@dataclass(frozen=True)
class TargetSettings:
    onboarding_minutes: float = 5
    satisfaction_pct: float = 90
    nps: float = 50
    p95_latency_ms: float = 100
    availability_pct: float = 99.9
    mrr: float = 10000
    new_customers_per_week: int = 3


@dataclass(frozen=True)
class FinanceSettings:
    infra_cost_per_week: float = 300


@dataclass(frozen=True)
class HealthScoreSettings:
    """Weights and thresholds of `customer show`'s health score (0-100; green/yellow/red)."""

    weight_technical: float = 0.5
    weight_sentiment: float = 0.3
    weight_engagement: float = 0.2
    green_at: float = 80
    yellow_at: float = 50


@dataclass(frozen=True)
class EmailSettings:
    """Outgoing e-mail (`unmo email send`, `survey send`). `smtp_url` names the server and the
    user (smtp://user@host:587 with STARTTLS, smtps://user@host:465); the password only ever
    comes from UNMO_SMTP_PASSWORD. `from` is a Python keyword, hence the field's other name."""

    smtp_url: str | None = None
    sender: str | None = field(default=None, metadata={"key": "from"})
    reply_to: str | None = None
    timeout_s: float = 10.0


@dataclass(frozen=True)
class SurveySettings:
    """Survey links: `public_url` is where customers reach `unmo survey serve` (behind a proxy),
    `valid_days` how long a link works, `answers_per_minute` what one address may post."""

    public_url: str | None = None
    valid_days: int = 14
    answers_per_minute: int = 20


@dataclass(frozen=True)
class UserSettings:
    """Who runs unmo here: `email` is whose tasks `unmo task list --mine` shows (UNMO_ACTOR,
    when set, wins: see `actor`)."""

    email: str | None = None


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    timezone: str = "UTC"
    templates_dir: str | None = None
    api: ApiSettings = field(default_factory=ApiSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    targets: TargetSettings = field(default_factory=TargetSettings)
    finance: FinanceSettings = field(default_factory=FinanceSettings)
    health_score: HealthScoreSettings = field(default_factory=HealthScoreSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    survey: SurveySettings = field(default_factory=SurveySettings)
    user: UserSettings = field(default_factory=UserSettings)
    # The one setting that is a list (of mappings): read by playbooks.read_playbooks.
    playbooks: tuple[Playbook, ...] = ()
    # `tiers:` (unmo_cli/tiers.py): empty when unmo.yaml names none.
    tiers: tuple[Tier, ...] = ()

    @property
    def service_tiers(self) -> tuple[Tier, ...]:
        """The tiers in force: those of `tiers:`, else the default `standard` tier."""
        from unmo_cli.tiers import default_tiers  # lazy: see the TYPE_CHECKING imports

        return self.tiers or default_tiers(self.targets)


# Environment variables win over the file.
ENVIRONMENT = {
    "database_url": "UNMO_DATABASE_URL",
    "api.base_url": "UNMO_API_URL",
    "api.public_url": "UNMO_API_PUBLIC_URL",
    "api.timeout_s": "UNMO_API_TIMEOUT",
    "timezone": "UNMO_TIMEZONE",
    "alerts.webhook_url": "UNMO_ALERT_WEBHOOK",
    "email.smtp_url": "UNMO_SMTP_URL",
    "email.from": "UNMO_EMAIL_FROM",
    "survey.public_url": "UNMO_SURVEY_PUBLIC_URL",
}
# The SMTP password: only ever from the environment, never a setting in unmo.yaml.
SMTP_PASSWORD_ENV = "UNMO_SMTP_PASSWORD"

_SECRET_KEYS = {"database_url", "alerts.webhook_url"}
# Who "me" is for `unmo task list --mine`, before user.email: a CI job or a shared shell says so.
ACTOR_ENV = "UNMO_ACTOR"

# Settings that may span lines. None do: every text setting is a URL, a name or a path, and a
# line break in one is how a value smuggles an extra line into a generated file (`.env`).
FREE_TEXT_SETTINGS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Workspace:
    root: Path
    settings: Settings
    config_file: Path | None = None

    @property
    def customers_dir(self) -> Path:
        return self.root / "customers"

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def database_url(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url
        return f"sqlite:///{(self.state_dir / 'unmo.db').as_posix()}"

    @property
    def templates_dir(self) -> Path:
        if self.settings.templates_dir:
            try:
                configured = Path(self.settings.templates_dir).expanduser()
                configured = configured if configured.is_absolute() else self.root / configured
                is_folder = configured.is_dir()
            except (OSError, RuntimeError, ValueError):  # too long, ~unknown-user, …
                is_folder, configured = False, Path(self.settings.templates_dir)
            if not is_folder:
                raise InputError(
                    f"templates_dir {str(configured)!r} in the settings is not a folder."
                )
            return configured
        local = self.root / "templates"
        if local.is_dir():
            return local
        return packaged_templates_dir()

    def customer_dir(self, slug: str) -> Path:
        return self.customers_dir / slug

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()


def packaged_templates_dir() -> Path:
    """The templates shipped in the wheel (unmo_cli/data/templates), or the repository's top-level
    templates/ when running from a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "data" / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise EnvironmentFailure("the packaged templates are missing; reinstall unmo.")


def packaged_data_file(name: str) -> Path:
    return Path(__file__).resolve().parent / "data" / name


# --- resolution -------------------------------------------------------------------------------

_override: Path | None = None


def set_workspace_override(path: Path | None) -> None:
    """`--workspace PATH`, set by the CLI's top-level callback for this invocation."""
    global _override
    _override = path


def resolve_root(cwd: Path | None = None) -> Path:
    """`--workspace` → `UNMO_WORKSPACE` → nearest ancestor holding unmo.yaml → the current
    folder."""
    if _override is not None:
        return _override.expanduser().resolve()
    env = os.environ.get("UNMO_WORKSPACE")
    if env:
        return Path(env).expanduser().resolve()
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return start


def load_workspace(cwd: Path | None = None) -> Workspace:
    root = resolve_root(cwd)
    if root.exists() and not root.is_dir():
        raise InputError(f"workspace {str(root)!r} is not a folder.")
    config_file = root / CONFIG_NAME
    values: dict[str, Any] = {}
    if config_file.is_file():
        values = _read_config(config_file)
    else:
        config_file = None  # type: ignore[assignment]
    settings = _build_settings(values, config_file)
    return Workspace(root=root, settings=settings, config_file=config_file)


# --- unmo.yaml parsing with line numbers ------------------------------------------------------


def _key(f: Any) -> str:
    """A field's name in unmo.yaml (`email.from` is the field `sender`)."""
    return f.metadata.get("key", f.name)


# The two list settings' element types, for get_type_hints: their values are read whole by their
# own modules (_walk hands `playbooks:` and `tiers:` over before looking at a kind), so these
# names are never used as kinds, and their modules are not imported to resolve them.
_READ_BY_THEIR_MODULES = {"Playbook": object, "Tier": object}


def _schema(cls: type) -> dict[str, Any]:
    hints = get_type_hints(cls, localns=_READ_BY_THEIR_MODULES)
    return {_key(f): hints[f.name] for f in fields(cls)}


def _field_name(cls: type, key: str) -> str:
    return next(f.name for f in fields(cls) if _key(f) == key)


def _read_config(path: Path) -> dict[str, Any]:
    """Flatten unmo.yaml to {"dotted.key": (value, line)} while checking keys against the schema."""
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; save unmo.yaml as UTF-8.") from None
    except OSError as exc:
        raise EnvironmentFailure(f"cannot read {path}: {exc.strerror}.") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"{path}:{where}: {problem}; unmo.yaml must be a YAML mapping.") from None
    except RecursionError:  # PyYAML composes nested brackets recursively: "{{{{…" exhausts it
        raise InputError(f"{path}: nested too deeply to be settings; unmo.yaml must be a YAML "
                         "mapping.") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise InputError(f"{path}: line {root.start_mark.line + 1}: unmo.yaml must be a mapping "
                         "of settings (key: value).")
    flat: dict[str, Any] = {}
    _walk(path, root, Settings, "", flat)
    return flat


def _walk(path: Path, node: Any, cls: type, prefix: str, flat: dict[str, Any]) -> None:
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    schema = _schema(cls)
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise InputError(f"{path}: line {line}: a key must be a plain name such as "
                             f"timezone or api.base_url, not a {type(key_node).__name__[:-4]}.")
        key = key_node.value
        dotted = f"{prefix}{key}"
        if key not in schema:
            known = ", ".join(prefix + k for k in schema)
            raise InputError(f"{path}: line {line}: unknown key {dotted!r}; known keys: {known}.")
        kind = schema[key]
        if dotted == "playbooks":
            from unmo_cli.playbooks import read_playbooks  # lazy: see the TYPE_CHECKING imports

            flat[dotted] = (read_playbooks(path, value_node, line), line)
            continue
        if dotted == "tiers":  # a mapping of tier names, read whole by its own module
            from unmo_cli.tiers import parse_tiers  # lazy: see the TYPE_CHECKING imports

            flat[dotted] = (parse_tiers(path, value_node), line)
            continue
        if is_dataclass(kind):
            if isinstance(value_node, yaml.ScalarNode) and value_node.tag.endswith(":null"):
                continue
            if not isinstance(value_node, yaml.MappingNode):
                raise InputError(f"{path}: line {line}: {dotted!r} must be a mapping of "
                                 f"{', '.join(_schema(kind))}.")
            _walk(path, value_node, kind, dotted + ".", flat)
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            shape = "list" if isinstance(value_node, yaml.SequenceNode) else "mapping"
            raise InputError(f"{path}: line {line}: {dotted!r} must be a single value, "
                             f"not a {shape}.")
        value = _scalar(value_node)
        flat[dotted] = (_coerce(value, kind, dotted, f"{path}: line {line}: "), line)


def _scalar(node: Any) -> Any:
    """A scalar node's value as YAML reads it, except that an integer of more digits than any
    setting holds stays text (Python refuses to convert 4,300 digits or more: ValueError), for
    _coerce to refuse by name."""
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    if node.tag.endswith(":int") and too_long_for_int(node.value.replace("_", "")):
        return node.value
    return yaml.safe_load(yaml.serialize(node))


def _coerce(value: Any, kind: Any, dotted: str, where: str) -> Any:
    optional = "None" in str(kind)
    if value is None:
        if optional:
            return None
        raise InputError(f"{where}{dotted!r} must have a value.")
    base = kind
    if optional:
        base = str if "str" in str(kind) else kind
    if base is str:
        if isinstance(value, (dict, list)):
            raise InputError(f"{where}{dotted!r} must be text.")
        text = str(value)
        problem = text_problem(text, allow_newlines=dotted in FREE_TEXT_SETTINGS)
        if problem:
            raise InputError(f"{where}{dotted!r} contains {problem}; use one line of plain "
                             "text.")
        return text
    if base is int:
        number = value if isinstance(value, int) and not isinstance(value, bool) else (
            whole_number(value) if isinstance(value, str) else None)
        if number is None or abs(number) > MAX_SETTING_INT:
            raise InputError(f"{where}{dotted!r} must be a whole number no larger than "
                             f"{MAX_SETTING_INT:,}, not {shown(value)}.")
        return number
    if base is float:
        number = None
        if not isinstance(value, bool) and isinstance(value, (int, float, str)):
            try:
                number = float(value)
            except (ValueError, OverflowError):  # OverflowError: an int of 400 digits
                number = None
        if number is None:
            raise InputError(f"{where}{dotted!r} must be a number, not {shown(value)}.")
        if not math.isfinite(number) or abs(number) > MAX_SETTING_NUMBER:
            # .nan and .inf are YAML numbers, but no setting can be one, and the report's JSON
            # could not hold the figures they make (NaN is not JSON).
            raise InputError(f"{where}{dotted!r} must be a finite number no larger than "
                             f"{MAX_SETTING_NUMBER:,.0f}, not {shown(value)}.")
        return number
    return value


def _build_settings(flat: dict[str, Any], config_file: Path | None) -> Settings:
    values = {key: value for key, (value, _line) in flat.items()}
    for dotted, env_name in ENVIRONMENT.items():
        raw = os.environ.get(env_name)
        if raw is not None and raw != "":
            kind = _kind_of(dotted)
            values[dotted] = _coerce(raw, kind, dotted, f"environment variable {env_name}: ")
    settings = Settings()
    for dotted, value in values.items():
        settings = _set(settings, dotted.split("."), value)
    return _validate(settings, flat, config_file)


def _kind_of(dotted: str) -> Any:
    cls: Any = Settings
    parts = dotted.split(".")
    for part in parts[:-1]:
        cls = _schema(cls)[part]
    return _schema(cls)[parts[-1]]


def _set(obj: Any, parts: list[str], value: Any) -> Any:
    name = _field_name(type(obj), parts[0])
    if len(parts) == 1:
        return replace(obj, **{name: value})
    return replace(obj, **{name: _set(getattr(obj, name), parts[1:], value)})


def _validate(settings: Settings, flat: dict[str, Any], config_file: Path | None) -> Settings:
    """`settings` checked (InputError naming the file and line, or the variable, of the first
    bad value), with user.email normalised as every stored address is."""
    def where(dotted: str) -> str:
        env_name = ENVIRONMENT.get(dotted)
        if env_name and os.environ.get(env_name):
            return f"environment variable {env_name}: "
        if dotted in flat and config_file is not None:
            return f"{config_file}: line {flat[dotted][1]}: "
        return ""

    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"{where('timezone')}timezone {settings.timezone!r} is not an IANA time "
                         "zone name (e.g. UTC, Europe/Berlin, America/New_York).") from None
    problem = url_problem(settings.api.public_url)
    if problem:
        raise InputError(f"{where('api.public_url')}api.public_url {settings.api.public_url!r} "
                         f"{problem}; use the platform's URL, e.g. {PRODUCTION_API_URL}.")
    if settings.api.timeout_s <= 0:
        raise InputError(f"{where('api.timeout_s')}api.timeout_s must be more than 0 seconds.")
    for name in ("health_failure_threshold", "health_success_threshold"):
        if getattr(settings.alerts, name) < 1:
            raise InputError(f"{where('alerts.' + name)}alerts.{name} must be 1 or more.")
    if not 1 <= settings.alerts.satisfaction_below <= 11:
        raise InputError(f"{where('alerts.satisfaction_below')}alerts.satisfaction_below must be "
                         "between 1 and 11.")
    _validate_email(settings, where)
    if settings.user.email is not None:
        address = plain_email(settings.user.email.strip())
        if address is None:
            raise InputError(f"{where('user.email')}user.email {settings.user.email!r} is not "
                             "an e-mail address (e.g. ana@yourcompany.example).")
        return replace(settings, user=UserSettings(email=address.lower()))
    return settings


def actor(settings: Settings) -> str | None:
    """Who "me" is (`unmo task list --mine`): UNMO_ACTOR if set, else user.email (lowercased,
    as task owners are); None when neither says. InputError when UNMO_ACTOR is not an address."""
    raw = os.environ.get(ACTOR_ENV, "").strip()
    if not raw:
        return settings.user.email
    address = plain_email(raw)
    if address is None:
        raise InputError(f"environment variable {ACTOR_ENV} {shown(raw)} is not an e-mail "
                         "address (e.g. ana@yourcompany.example).")
    return address.lower()


def flat_settings(settings: Settings, *, mask: bool = True) -> dict[str, Any]:
    """Every setting as {"dotted.key": value}; secrets (credentials in URLs, webhook tokens)
    masked unless mask=False."""
    result: dict[str, Any] = {}

    def walk(obj: Any, prefix: str) -> None:
        for f in fields(obj):
            value = getattr(obj, f.name)
            if is_dataclass(value):
                walk(value, prefix + _key(f) + ".")
            elif f.name == "playbooks":
                result["playbooks"] = [playbook.as_setting() for playbook in value]
            elif f.name == "tiers":
                for tier in value:
                    for name, setting in tier.as_json().items():
                        if name != "name":
                            result[f"tiers.{tier.name}.{name}"] = setting
            else:
                dotted = prefix + _key(f)
                result[dotted] = mask_secret_setting(dotted, value) if mask else value

    walk(settings, "")
    return result


def mask_secret_setting(dotted: str, value: Any) -> Any:
    if value is None or dotted not in _SECRET_KEYS:
        return value
    text = str(value)
    if dotted == "database_url":
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)
    match = re.match(r"^(\w+://[^/]+)(/.*)?$", text)
    return f"{match.group(1)}/***" if match else "***"


# --- files the workspace keeps ----------------------------------------------------------------

GITIGNORE_LINES = [".unmo/", ".env", "customers/*/.env", "*.db-journal"]


def ensure_gitignore(root: Path) -> Path:
    """Create or extend the workspace .gitignore so secrets and the database stay out of git."""
    path = root / ".gitignore"
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in existing]
    if missing:
        block = ([""] if existing and existing[-1].strip() else []) + [
            "# unmo: secrets and the local database never go to git"
        ] + missing
        root.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            if existing and not path.read_text(encoding="utf-8").endswith("\n"):
                handle.write("\n")
            handle.write("\n".join(block) + "\n")
    return path


# `unmo init`'s example of the one list setting (docs/cli.md, "Playbooks").
PLAYBOOKS_EXAMPLE = [
    "# playbooks:   # a task for someone when a trigger fires (none by default); e.g.:",
    "#   - on: detractor            # or low_satisfaction, satisfaction_drop, health_failing",
    "#     task: Call the customer about their NPS answer",
    "#     due_business_days: 2",
    "#     owner: success_manager   # the customer's; or an e-mail address",
    "#   - on: renewal_due          # `unmo task sweep` checks renewal_due and silent",
    "#     days: 60                 # days before the renewal date (silent: days without feedback)",
    "#     task: Prepare the renewal",
    "#     due_business_days: 10",
]


def default_config_text() -> str:
    """The commented unmo.yaml that `unmo init` writes: every key, at its default, commented out."""
    lines = [
        "# unmo workspace settings. Every key is optional; the values shown are the defaults.",
        "# Environment variables win over this file: " + ", ".join(
            f"{env} ({key})" for key, env in ENVIRONMENT.items()) + ".",
        "",
        "# database_url: sqlite:///<workspace>/.unmo/unmo.db   # or postgresql+psycopg://user@host/db",
    ]

    def walk(obj: Any, indent: str) -> None:
        for f in fields(obj):
            value = getattr(obj, f.name)
            if f.name == "database_url" and not indent:
                continue
            if f.name == "tiers":
                lines.append("# tiers:   # default: standard, from targets.availability_pct and "
                             "targets.p95_latency_ms")
                lines.append("#   enterprise: {availability_pct: 99.9, p95_latency_ms: 100, "
                             "credits: [[99.9, 10], [99.0, 25]]}")
                continue
            if is_dataclass(value):
                lines.append(f"# {indent}{_key(f)}:")
                walk(value, indent + "  ")
            elif f.name == "playbooks":
                lines.extend(PLAYBOOKS_EXAMPLE)
            else:
                shown = "null" if value is None else value
                if isinstance(value, float) and value.is_integer():
                    shown = int(value)
                lines.append(f"# {indent}{_key(f)}: {shown}")

    walk(Settings(), "")
    return "\n".join(lines) + "\n"


def ensure_private_dir(path: Path) -> Path:
    """Create a folder readable by its owner only (the state folder holds the database)."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise EnvironmentFailure(f"cannot create folder {path}: {exc.strerror}.") from None
    return path


def _validate_email(settings: Settings, where: Any) -> None:
    """The e-mail and survey settings: an SMTP URL of the accepted forms without a password,
    addresses that are one address each, a survey URL customers can reach."""
    email = settings.email
    if email.smtp_url is not None:
        # lazy: the mail module's rules only when an e-mail setting is there to check
        from unmo_cli.mailer import smtp_url_problem

        problem = smtp_url_problem(email.smtp_url)
        if problem:
            shown_url = re.sub(r"//[^/@]*@", "//***@", email.smtp_url)
            raise InputError(f"{where('email.smtp_url')}email.smtp_url {shown_url!r} {problem}.")
    for key, value in (("email.from", email.sender), ("email.reply_to", email.reply_to)):
        if value is not None:
            from unmo_cli.mailer import address_problem  # lazy: as smtp_url_problem above

            problem = address_problem(value)
            if problem:
                raise InputError(f"{where(key)}{key} {value!r} {problem}; use one address such "
                                 "as success@example.com or 'Success team <success@example.com>'.")
    if email.timeout_s <= 0:
        raise InputError(f"{where('email.timeout_s')}email.timeout_s must be more than 0 seconds.")
    survey = settings.survey
    if survey.public_url is not None:
        problem = url_problem(survey.public_url.rstrip("/"))
        if problem:
            raise InputError(f"{where('survey.public_url')}survey.public_url "
                             f"{survey.public_url!r} {problem}; use the address customers reach "
                             "`unmo survey serve` at, e.g. https://feedback.example.com.")
    if not 1 <= survey.valid_days <= 366:
        raise InputError(f"{where('survey.valid_days')}survey.valid_days must be between 1 and "
                         "366.")
    if survey.answers_per_minute < 1:
        raise InputError(f"{where('survey.answers_per_minute')}survey.answers_per_minute must be "
                         "1 or more.")
