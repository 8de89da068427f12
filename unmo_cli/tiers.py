"""The service tiers of `tiers:` in unmo.yaml: what each promises (availability, p95 latency) and
the credits owed when availability falls short; read from its YAML node with line numbers."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from unmo_cli.errors import InputError

TIER_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
DEFAULT_TIER = "standard"
TIER_KEYS = ("availability_pct", "p95_latency_ms", "credits")
MAX_LATENCY_MS = 3_600_000.0  # an hour: any p95 target beyond it is a typo


@dataclass(frozen=True)
class Tier:
    """One tier: met when the month's availability is at or above `availability_pct` and its p95
    latency at or below `p95_latency_ms`. `credits` pairs (below_pct, credit_pct), highest
    threshold first: availability below `below_pct` owes `credit_pct` % of the month's fee."""

    name: str
    availability_pct: float
    p95_latency_ms: float
    credits: tuple[tuple[float, float], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "availability_pct": self.availability_pct,
                "p95_latency_ms": self.p95_latency_ms,
                "credits": [[below, credit] for below, credit in self.credits]}


def default_tiers(targets: Any) -> tuple[Tier, ...]:
    """Without `tiers:` in unmo.yaml: one tier, `standard`, promising the workspace's
    targets.availability_pct and targets.p95_latency_ms, with no credits."""
    return (Tier(DEFAULT_TIER, float(targets.availability_pct), float(targets.p95_latency_ms)),)


def tier_named(tiers: tuple[Tier, ...], name: str) -> Tier | None:
    return next((tier for tier in tiers if tier.name == name), None)


def unknown_tier_problem(configured: tuple[Tier, ...], name: str, option: str = "--tier"
                         ) -> str | None:
    """Why `name` cannot be a customer's tier when `tiers:` is configured (None when it can, or
    when no tiers are configured: any well-formed name is then accepted)."""
    if not configured or tier_named(configured, name) is not None:
        return None
    return (f"{option} {name!r} is not a tier of this workspace; the tiers in unmo.yaml are "
            f"{', '.join(t.name for t in configured)}.")


def credit_pct(tier: Tier, availability: float | None) -> float:
    """The credit owed: the largest credit_pct among the tier's credits whose below_pct the
    month's availability is below; 0 when none applies or there is no availability figure."""
    if availability is None:
        return 0.0
    owed = [credit for below, credit in tier.credits if availability < below]
    return max(owed, default=0.0)


# --- reading `tiers:` ---------------------------------------------------------------------------


def parse_tiers(path: Any, node: Any) -> tuple[Tier, ...]:
    """`tiers:` from its YAML node: a mapping of tier name → {availability_pct, p95_latency_ms,
    credits: [[below_pct, credit_pct], …]}. InputError naming the file and line of the first bad
    shape or value."""
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    def where(at: Any) -> str:
        return f"{path}: line {at.start_mark.line + 1}: "

    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
        return ()
    if not isinstance(node, yaml.MappingNode):
        raise InputError(f"{where(node)}'tiers' must be a mapping of tier names, e.g. "
                         "standard: {availability_pct: 99.5, p95_latency_ms: 200}.")
    tiers: list[Tier] = []
    for key_node, value_node in node.value:
        name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(name, str) or not TIER_RE.fullmatch(name):
            raise InputError(f"{where(key_node)}tier name {name!r} is not a tier name; use "
                             "lowercase letters, digits, - and _ (e.g. standard, enterprise).")
        if tier_named(tuple(tiers), name):
            raise InputError(f"{where(key_node)}tier {name!r} is defined twice.")
        tiers.append(_tier(name, key_node, value_node, where))
    if not tiers:
        raise InputError(f"{where(node)}'tiers' names no tier; remove it or name one.")
    return tuple(tiers)


def _tier(name: str, name_node: Any, node: Any, where: Any) -> Tier:
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    if not isinstance(node, yaml.MappingNode):
        raise InputError(f"{where(node)}tiers.{name} must be a mapping of "
                         f"{', '.join(TIER_KEYS)}.")
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in TIER_KEYS:
            raise InputError(f"{where(key_node)}unknown key 'tiers.{name}.{key}'; known keys: "
                             f"{', '.join(TIER_KEYS)}.")
        if key == "credits":
            values[key] = _credits(name, value_node, where)
        else:
            limit = 100.0 if key == "availability_pct" else MAX_LATENCY_MS
            values[key] = _number(f"tiers.{name}.{key}", value_node, where, 0.0, limit)
    missing = [key for key in TIER_KEYS[:2] if key not in values]
    if missing:
        raise InputError(f"{where(name_node)}tiers.{name} is missing {' and '.join(missing)}.")
    return Tier(name, values["availability_pct"], values["p95_latency_ms"],
                values.get("credits", ()))


def _credits(name: str, node: Any, where: Any) -> tuple[tuple[float, float], ...]:
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    what = f"tiers.{name}.credits"
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
        return ()
    if not isinstance(node, yaml.SequenceNode):
        raise InputError(f"{where(node)}{what} must be a list of [below_pct, credit_pct] pairs, "
                         "e.g. [[99.9, 10], [99.0, 25]].")
    pairs = []
    for item in node.value:
        if not isinstance(item, yaml.SequenceNode) or len(item.value) != 2:
            raise InputError(f"{where(item)}each of {what} must be a pair [below_pct, "
                             "credit_pct], e.g. [99.9, 10].")
        below = _number(f"{what} below_pct", item.value[0], where, 0.0, 100.0)
        credit = _number(f"{what} credit_pct", item.value[1], where, 0.0, 100.0)
        if any(below == seen for seen, _credit in pairs):
            raise InputError(f"{where(item)}{what} names below_pct {below:g} twice.")
        pairs.append((below, credit))
    return tuple(sorted(pairs, reverse=True))


def _number(what: str, node: Any, where: Any, low: float, high: float) -> float:
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    value: Any = None
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith((":int", ":float")):
        try:
            value = float(yaml.safe_load(yaml.serialize(node)))
        except (ValueError, OverflowError):
            value = None
    if value is None or not math.isfinite(value) or not low <= value <= high:
        shown = node.value if isinstance(node, yaml.ScalarNode) else "a " + (
            "list" if isinstance(node, yaml.SequenceNode) else "mapping")
        raise InputError(f"{where(node)}{what} must be a number from {low:g} to {high:g}, "
                         f"not {str(shown)[:60]!r}.")
    return value
