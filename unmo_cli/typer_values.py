"""Turns the command line's words into the plain values unmo's parameters take (str, int, float,
Path, an Enum's member, a flag's bool, lists of those) without Typer's pydantic adapters on the way.

Typer (0.29) coerces every parameter through a pydantic TypeAdapter built on first use: the
import of its adapters and one schema per parameter cost about 100 ms on every command that has
options (`--workspace` included, so even `unmo customer list --help`). For the values a user
types in the common shapes — a str, a whole number in digits, a decimal number, a path, one of
a choice's names — the answer is known without pydantic and is the one pydantic would give (a
property test compares the two). Anything else (a value of another shape, an error to report,
an annotation not listed here) goes to Typer's own coercion, built only then, so the values
accepted and every error's wording stay Typer's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._click import Context

try:  # Typer's internals (0.29): a Typer without them keeps its own coercion throughout
    from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
    from typer._param_types import coerce_cli_choice, coerce_cli_path
except ImportError:  # pragma: no cover - depends on the installed Typer
    QUICK_PATH = False
    RuntimeParam = object  # type: ignore[assignment,misc]
else:
    QUICK_PATH = True

# What int() and float() read exactly as pydantic does: ASCII digits, an optional minus sign,
# and for a float one optional fraction. Longer digit strings go to pydantic (it limits them).
_WHOLE = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_DECIMAL = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?", re.ASCII)


class _Unsure(Exception):
    """The quick path has no answer it is sure of: Typer's own coercion decides."""


def _as_str(value: Any) -> str:
    if type(value) is str:
        return value
    raise _Unsure


def _as_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is str and _WHOLE.fullmatch(value):
        return int(value)
    raise _Unsure


def _as_float(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    if type(value) is str and _DECIMAL.fullmatch(value):
        return float(value)
    raise _Unsure


def _as_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _Unsure  # "yes", "0", "off"…: Typer's own rules


_LEAVES = {str: _as_str, int: _as_int, float: _as_float, bool: _as_bool}


@dataclass(frozen=True)
class QuickRuntimeParam(RuntimeParam):
    """Typer's RuntimeParam for one parameter, answering the common shapes itself."""

    descriptor: TypeDescriptor

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        try:
            return self._quick(value, param, ctx)
        except _Unsure:
            return self._typer_own()._coerce_value(value, param=param, ctx=ctx)

    def _quick(self, value: Any, param: Any, ctx: Context) -> Any:
        annotation, info = self.annotation, self.parameter_info
        if get_origin(annotation) is list:
            (item,) = get_args(annotation)
            if not isinstance(value, (list, tuple)):
                raise _Unsure
            leaf = _LEAVES.get(item)
            if leaf is None and _is_enum(item):
                return [self._choice(item, one, ctx) for one in value]
            if leaf is None:
                raise _Unsure
            return [leaf(one) for one in value]
        leaf = _LEAVES.get(annotation)
        if leaf is not None:
            return leaf(value)
        if _is_enum(annotation):
            return self._choice(annotation, value, ctx)
        if annotation is Path:
            if type(value) is str and value:
                value = Path(value)
            if not isinstance(value, Path):
                raise _Unsure
            # Typer's own checks (exists, file_okay, dir_okay …); with a Path in hand they need
            # no pydantic, and their errors are Typer's.
            return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
        raise _Unsure

    def _choice(self, enum: type[Enum], value: Any, ctx: Context) -> Any:
        try:
            return coerce_cli_choice(value, choices=list(enum),
                                     case_sensitive=self.parameter_info.case_sensitive, ctx=ctx)
        except ValueError:
            raise _Unsure from None

    def _typer_own(self) -> RuntimeParam:
        return build_runtime_param(self.descriptor)


def _quick_enough(descriptor: TypeDescriptor) -> bool:
    info = descriptor.parameter_info
    if info.parser is not None or info.min is not None or info.max is not None \
            or descriptor.is_file or getattr(info, "click_type", None) is not None:
        return False
    annotation = descriptor.annotation
    if get_origin(annotation) is list:
        item = get_args(annotation)[0]
        return item in _LEAVES or _is_enum(item)
    if annotation is Path:
        return info.path_type is None and not info.resolve_path and not info.allow_dash
    return annotation in _LEAVES or _is_enum(annotation)


def _is_enum(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Enum)


def install(params: Any) -> None:
    """Give each Typer parameter of `params` the quick coercion where its annotation allows;
    call it before the command line is parsed (the parameter keeps it for later parses).
    Nothing to do on a Typer whose internals differ (QUICK_PATH false): its own coercion."""
    if not QUICK_PATH:
        return
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", False) is not None:
            continue
        if _quick_enough(descriptor):
            param._runtime_param = QuickRuntimeParam(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                descriptor=descriptor)
