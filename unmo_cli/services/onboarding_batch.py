"""`onboard --from FILE`: reading a YAML or JSON file of one customer or a list, and
validating every record before anything is created (all problems reported at once; names
that collide inside the file refused)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unmo_cli import clock, documents
from unmo_cli.documents import DocumentError
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.services.onboarding_input import (
    FIELDS,
    LOOK_ALIKE_REASON,
    CustomerInput,
    build_input,
    field_errors,
    look_alike_key,
    missing_fields,
)
from unmo_cli.text import MAX_NAME


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
        item = build_input(record)
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
