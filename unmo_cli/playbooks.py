"""Playbooks: the `playbooks:` list of unmo.yaml (what fires a task, its title, when it is due and
who owns it), read with the line of each entry for error messages; the stable key a playbook's
tasks carry; and the business-day arithmetic of due dates."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from unmo_cli.documents import whole_number
from unmo_cli.errors import InputError
from unmo_cli.text import MAX_TASK_TITLE, length_problem, plain_email, shown, text_problem

# Triggers that follow an alert rule (they fire when that alert is raised, in its transaction)
# and the ones `unmo task sweep` evaluates against the clock.
ALERT_TRIGGERS = ("detractor", "low_satisfaction", "satisfaction_drop", "health_failing")
TIME_TRIGGERS = ("renewal_due", "silent")
TRIGGERS = ALERT_TRIGGERS + TIME_TRIGGERS
SUCCESS_MANAGER = "success_manager"
KEYS = ("on", "task", "days", "due_business_days", "owner")
MAX_DAYS = 3660  # ten years: further than any renewal or silence anyone plans for
MAX_BUSINESS_DAYS = 260  # a working year
KEY_LENGTH = 80  # tasks.playbook


@dataclass(frozen=True)
class Playbook:
    """One entry of `playbooks:`. `days` is the trigger's N for `renewal_due` (days before the
    renewal date) and `silent` (days without feedback); None for the alert triggers. `owner`
    is an address or `success_manager` (the customer's; none: unassigned)."""

    on: str
    task: str
    due_business_days: int = 2
    owner: str = SUCCESS_MANAGER
    days: int | None = None
    line: int = field(default=0, compare=False)

    @property
    def key(self) -> str:
        """What tasks.playbook stores: `<trigger>:<task title>`, so an open task stays this
        playbook's when unmo.yaml's entries are reordered or another is added; a title longer
        than fits ends in a digest of the whole key. Changing a playbook's trigger or title
        makes it another playbook (its next firing opens a new task)."""
        whole = f"{self.on}:{self.task}"
        if len(whole) <= KEY_LENGTH:
            return whole
        digest = hashlib.sha256(whole.encode()).hexdigest()[:10]
        return f"{whole[:KEY_LENGTH - 11]}~{digest}"

    def as_setting(self) -> dict[str, Any]:
        """The entry as `unmo config show --json` prints it (and unmo.yaml spells it)."""
        entry: dict[str, Any] = {"on": self.on}
        if self.days is not None:
            entry["days"] = self.days
        return entry | {"task": self.task, "due_business_days": self.due_business_days,
                        "owner": self.owner}


def add_business_days(start: date, days: int) -> date:
    """The date `days` business days (Monday to Friday) after `start`. With 0 days: `start`
    itself, or the Monday after it when it falls on a weekend. Holidays are not known."""
    if days <= 0:
        return start + timedelta(days=max(0, 7 - start.weekday())) if start.weekday() >= 5 \
            else start
    weeks, rest = divmod(days, 5)
    day = start + timedelta(weeks=weeks)
    while rest:
        day += timedelta(days=1)
        if day.weekday() < 5:
            rest -= 1
    while day.weekday() >= 5:  # a start on a weekend and a whole number of weeks
        day -= timedelta(days=1)
    return day


# --- reading unmo.yaml --------------------------------------------------------------------------


def read_playbooks(path: Path, node: Any, line: int) -> tuple[Playbook, ...]:
    """The `playbooks:` value of unmo.yaml (a YAML node) as playbooks, or InputError naming the
    file and line of the first problem (`line`: the key's): not a list of mappings, an unknown
    key or trigger, a missing task, a number of days out of range, an owner that is not an
    address, the same trigger and task twice."""
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
        return ()
    if not isinstance(node, yaml.SequenceNode):
        raise InputError(f"{path}: line {line}: 'playbooks' must be a list of entries such as "
                         "{on: detractor, task: Call the customer}.")
    found: list[Playbook] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(node.value):
        playbook = _read_entry(path, item, f"playbooks[{index + 1}]")
        if playbook.key in seen:
            raise InputError(f"{path}: line {playbook.line}: playbooks[{index + 1}] repeats the "
                             f"entry of line {seen[playbook.key]} (same trigger and task); give "
                             "each playbook its own task title.")
        seen[playbook.key] = playbook.line
        found.append(playbook)
    return tuple(found)


def _read_entry(path: Path, node: Any, name: str) -> Playbook:
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    line = node.start_mark.line + 1
    where = f"{path}: line {line}: {name}"
    if not isinstance(node, yaml.MappingNode):
        raise InputError(f"{where} must be a mapping of {', '.join(KEYS)}.")
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        at = f"{path}: line {key_node.start_mark.line + 1}: {name}"
        if key not in KEYS:
            raise InputError(f"{at}: unknown key {shown(key)}; known keys: {', '.join(KEYS)}.")
        if not isinstance(value_node, yaml.ScalarNode):
            raise InputError(f"{at}.{key} must be a single value.")
        values[key] = (yaml.safe_load(yaml.serialize(value_node)), at)
    if "on" not in values:
        raise InputError(f"{where} has no 'on'; say what fires it: {', '.join(TRIGGERS)}.")
    if "task" not in values:
        raise InputError(f"{where} has no 'task'; give the title of the task it creates.")
    trigger, at = values["on"]
    if trigger not in TRIGGERS:
        raise InputError(f"{at}.on {shown(trigger)} is not a trigger; use one of "
                         f"{', '.join(TRIGGERS)}.")
    days = None
    if trigger in TIME_TRIGGERS:
        if "days" not in values:
            what = ("days before the renewal date" if trigger == "renewal_due"
                    else "days without feedback")
            raise InputError(f"{where} ({trigger}) has no 'days'; give the number of {what}.")
        days = _number(*values["days"], "days", 1, MAX_DAYS)
    elif "days" in values:
        raise InputError(f"{values['days'][1]}.days applies to renewal_due and silent only; "
                         f"{trigger} fires when its alert is raised.")
    due = (_number(*values["due_business_days"], "due_business_days", 0, MAX_BUSINESS_DAYS)
           if "due_business_days" in values else Playbook.due_business_days)
    return Playbook(on=trigger, task=_title(*values["task"]), due_business_days=due,
                    owner=_owner(*values.get("owner", (SUCCESS_MANAGER, where))), days=days,
                    line=line)


def _number(value: Any, at: str, key: str, low: int, high: int) -> int:
    number = value if isinstance(value, int) and not isinstance(value, bool) else (
        whole_number(value) if isinstance(value, str) else None)
    if number is None or not low <= number <= high:
        raise InputError(f"{at}.{key} must be a whole number from {low} to {high:,}, not "
                         f"{shown(value)}.")
    return number


def _title(value: Any, at: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{at}.task must be the task's title (text), not {shown(value)}.")
    title = value.strip()
    problem = text_problem(title) or length_problem(title, MAX_TASK_TITLE)
    if problem:
        said = problem if problem.startswith("is ") else f"contains {problem}"
        raise InputError(f"{at}.task {said}; use one line of plain text.")
    return title


def _owner(value: Any, at: str) -> str:
    if value == SUCCESS_MANAGER:
        return value
    address = plain_email(value.strip()) if isinstance(value, str) else None
    if address is None:
        raise InputError(f"{at}.owner {shown(value)} is not an e-mail address or "
                         f"{SUCCESS_MANAGER} (the customer's success manager).")
    return address.lower()  # as task owners are stored
