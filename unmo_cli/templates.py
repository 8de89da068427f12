"""Owns Jinja: the one module that imports jinja2. Templates are files a team edits (the
workspace's templates/ override, else the packaged set); the data handed to them, customer text
included, is only ever data, never template source."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.money import for_people
from unmo_cli.text import one_line, text_problem
from unmo_cli.user_cache import make_cache_dir
from unmo_cli.workspace import packaged_templates_dir

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from unmo_cli.workspace import Workspace

TEMPLATE_SUFFIX = ".j2"


def _autoescape(template_name: str | None) -> bool:
    """HTML-escape only what ends up as HTML (`welcome.html.j2` as well as `page.html`)."""
    if template_name is None:
        return False
    return template_name.removesuffix(TEMPLATE_SUFFIX).endswith((".html", ".htm"))


# --- one filter per format a value is written into ----------------------------------------------
# Values reach templates already validated where they entered (names, e-mail addresses, the API
# URL); each filter still quotes for its format, so a value is never trusted to be harmless.
# A value a format cannot hold at all is refused (InputError), never written half-quoted.

# What is outside YAML's printable set, or what YAML 1.1 (PyYAML) reads as a line break or a
# BOM: the complement of [\u0020-\u007e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd
# \U00010000-\U0010ffff], written as its few short ranges because the re module compiles a
# class by walking every code point of its ranges (~57 M instructions for that one, a tenth of
# an onboarding's own work; tests/test_templates_speed.py holds the two equal).
_YAML_NOT_PLAIN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_YAML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
YAML_WIDTH = 80  # yamllint's default line-length


def yaml_value(value: Any, indent: int = 0, key_width: int = 22) -> str:
    """A scalar or list written so YAML reads back exactly the same value and yamllint's defaults
    accept the lines: strings double-quoted with YAML's escapes, folded with escaped line breaks
    (`\\` at the end of a line, continuation lines indented by `indent` + 2) so that no line
    passes 80 columns when the key before it (at `indent`) is at most `key_width` characters;
    lists as flow sequences, broken between items the same way."""
    column = indent + key_width + 2  # after "key: "
    lines = [""]
    if not isinstance(value, (list, tuple)):
        _yaml_append(lines, value, column, indent)
        return ("\n" + " " * (indent + 2)).join(lines)
    one_line = "[" + ", ".join(yaml_value(item, indent, key_width) for item in value) + "]"
    if "\n" not in one_line and column + len(one_line) <= YAML_WIDTH:
        return one_line
    # Too long for one line: "[", then one item a line, then "]" under the key, as yamllint's
    # indentation rule wants a flow sequence broken across lines.
    items = []
    for item in value:
        item_lines = [""]
        _yaml_append(item_lines, item, indent + 2, indent)
        items.append(("\n" + " " * (indent + 2)).join(item_lines))
    inner = ("\n" + " " * (indent + 2)).join(
        text + ("," if number < len(items) - 1 else "") for number, text in enumerate(items))
    return f"[\n{' ' * (indent + 2)}{inner}\n{' ' * indent}]"


def _yaml_append(lines: list[str], value: Any, column: int, indent: int) -> int:
    """Append `value` to `lines` (the last one starts at `column`), folding a long string onto
    new lines; returns the column the last line starts at."""
    if value is None or isinstance(value, (bool, int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{value!r} cannot be written into a YAML file unmo reads back.")
        lines[-1] += json.dumps(value)
        return column
    pieces = [ch if not _YAML_NOT_PLAIN.match(ch) and ch not in _YAML_ESCAPES
              else _YAML_ESCAPES.get(ch) or _yaml_escape(ch) for ch in str(value)]
    lines[-1] += '"'
    for number, piece in enumerate(pieces):
        # Keep room for the closing `"`, `\\`, and a `,` or `]` after it.
        if column + len(lines[-1]) + len(piece) + 3 > YAML_WIDTH and number:
            lines[-1] += "\\"
            lines.append("")
            column = indent + 2
            if piece == " ":
                piece = "\\ "  # a leading space would be folded away
        lines[-1] += piece
    lines[-1] += '"'
    return column


def _yaml_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def shell_word(value: Any) -> str:
    """One word for a POSIX shell (sh, bash, zsh), single-quoted unless it needs no quotes."""

    return shlex.quote(str(value))


def python_literal(value: Any) -> str:
    """A Python literal that evaluates to `value` (str, int, float, bool, None, or lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{value!r} cannot be written as a Python literal.")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(item) for item in value) + "]"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return repr(str(value))


def dotenv_value(value: Any) -> str:
    """A `.env` value that python-dotenv, docker compose and a POSIX shell's `set -a; . .env`
    all read as the same text: single-quoted, so nothing in it is expanded. A value holding a
    quote, a backslash or a control character (none of which these readers agree on) is
    refused."""
    text = str(value)
    if "'" in text or "\\" in text or text_problem(text) is not None:
        raise InputError(f"{text!r} cannot be written into a .env file: it holds a quote, a "
                         "backslash or a control character.")
    return f"'{text}'"


# Not XML 1.0's characters (a plist is XML): anything else cannot be escaped, only refused. The
# complement of [\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff], written short (see
# _YAML_NOT_PLAIN).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# xml.sax.saxutils.escape's entities with both quotes added, as one str.translate: importing
# saxutils pulls in urllib.request and http.client, ~5 ms of every onboarding.
_XML_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                               "'": "&apos;"})


def xml_text(value: Any) -> str:
    """Text for an XML element or attribute (plists), with &, <, >, " and ' escaped."""
    text = str(value)
    if _XML_INVALID.search(text):
        raise InputError(f"{text!r} holds a character that XML (a plist) cannot hold.")
    return text.translate(_XML_ENTITIES)


def properties_value(value: Any) -> str:
    """A Java .properties value: backslashes, line breaks and a leading space escaped, and
    everything outside printable ASCII as \\uXXXX (UTF-16 units), as Properties.load reads it."""
    text = str(value)
    lead = text[:1]
    if lead and lead in " #!=:":
        return "\\" + lead + _utf16_escaped(text[1:], "\\")
    return _utf16_escaped(text, "\\")


def _utf16_escaped(text: str, special: str) -> str:
    """`text` with each character of `special` backslash-escaped, printable ASCII as it is and
    everything else as \\uXXXX UTF-16 units: what Java's .properties and Kotlin both read."""
    out = []
    for ch in text:
        if ch in special:
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            data = ch.encode("utf-16-be")
            out.extend(f"\\u{data[i] << 8 | data[i + 1]:04x}" for i in range(0, len(data), 2))
    return "".join(out)


def kotlin_string(value: Any) -> str:
    """A Kotlin string literal ("…", with `$` escaped so nothing is interpolated)."""
    return '"' + _utf16_escaped(str(value), '"\\$') + '"'


def swift_string(value: Any) -> str:
    """A Swift string literal ("…"; `\\(` interpolation cannot start: backslashes are escaped)."""
    out = []
    for ch in str(value):
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):x}}}")
    return '"' + "".join(out) + '"'


def comment_text(value: Any) -> str:
    """Text for a `#` or `//` comment: on one line (line breaks and control characters become
    spaces), so it cannot end the comment and start code."""
    return " ".join(one_line(str(value)).split())


# Markdown: every character that can start markup anywhere in a line. `:` and `@` (autolinks such
# as https://… or name@host), `&` (entities), `<` (raw HTML), `|` (table cells), `$` (math).
_MD_INLINE = re.compile(r"([\\`*_\[\]<>!|#~&$:@{}])")
_MD_LINE_START = re.compile(r"^([-+=>]|\d+(?=[.)]))")


def markdown_text(value: Any) -> str:
    """Text unmo did not write, made inert for Markdown (CommonMark and GitHub's): one line,
    every character that could make a link, an image, raw HTML, emphasis, a table cell or a
    heading backslash-escaped, and what would start a list, a quote or a rule at the start of
    a line too. It reads as the same text once rendered."""
    text = " ".join(one_line(str(value)).split())
    text = _MD_INLINE.sub(r"\\\1", text)
    text = re.sub(r"(?i)\b(www)\.", r"\1\\.", text)  # GitHub links www.host without a scheme
    match = _MD_LINE_START.match(text)
    if match:
        end = match.end()
        text = (f"\\{text}" if not match.group(1).isdigit()
                else f"{text[:end]}\\{text[end:]}")
    return text


def dollars(cents: int) -> str:
    """Integer cents shown as dollars after a "$" in the template: 250000 → "2,500.00"."""

    return for_people(cents).replace("$", "", 1)


def search_path(templates_dir: Path) -> tuple[str, ...]:
    """The folders a template is looked up in: the workspace's override first, then the
    packaged set, so an override needs only the files it changes."""
    return _search_path(str(templates_dir))


@lru_cache(maxsize=32)
def _search_path(templates_dir: str) -> tuple[str, ...]:
    folders = [Path(templates_dir).resolve()]
    try:
        packaged = packaged_templates_dir().resolve()
    except EnvironmentFailure:
        packaged = None
    if packaged is not None and packaged not in folders:
        folders.append(packaged)
    return tuple(str(f) for f in folders)


@lru_cache(maxsize=8)
def _environment(folders: tuple[str, ...]) -> SandboxedEnvironment:
    # One environment per search path and process: a batch of a thousand customers compiles
    # each template once (Jinja caches compiled templates per environment).
    from jinja2 import FileSystemLoader, StrictUndefined  # lazy: Jinja only when rendering
    from jinja2.sandbox import SandboxedEnvironment

    class ConfinedLoader(FileSystemLoader):
        """Serves only files that really are inside its folders: a symlink in a templates
        override that points elsewhere (/etc/passwd, ~/.ssh/…) is refused, not read into a
        customer's folder. (`..` and absolute names never get this far: Jinja refuses them.)"""

        def get_source(self, environment: Any, template: str) -> Any:
            from jinja2.exceptions import SecurityError  # lazy: Jinja only when rendering

            source, filename, uptodate = super().get_source(environment, template)
            real = os.path.realpath(filename)
            if not any(real.startswith(os.path.join(os.path.realpath(folder), ""))
                       for folder in self.searchpath):
                raise SecurityError(f"{template!r} is a link to a file outside the templates "
                                    "folders, which templates may not read")
            return source, filename, uptodate

    env = SandboxedEnvironment(
        loader=ConfinedLoader(list(folders)),
        bytecode_cache=_bytecode_cache(),
        undefined=StrictUndefined,
        autoescape=_autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,  # an edited template is picked up in a long-lived process
    )
    env.filters.update(yaml=yaml_value, sh=shell_word, py=python_literal, dotenv=dotenv_value,
                       xml=xml_text, properties=properties_value, kotlin=kotlin_string,
                       swift=swift_string, comment=comment_text, md=markdown_text)
    env.filters["dollars"] = dollars
    return env


def _bytecode_cache() -> Any:
    """Compiled templates kept in the user's cache folder (keyed by each template's source, so
    an edit is picked up): compiling them is most of a single onboarding's rendering time.
    Never inside the workspace, and skipped when the cache folder cannot be made."""

    from jinja2 import FileSystemBytecodeCache  # lazy: Jinja only when rendering

    if os.environ.get("UNMO_NO_TEMPLATE_CACHE"):
        return None
    # Cached bytecode is code this process will run: only from a folder nobody else can write
    # (make_cache_dir refuses any other).
    folder = make_cache_dir("jinja")
    return None if folder is None else FileSystemBytecodeCache(str(folder))


def render(workspace: Workspace, template_name: str, context: dict[str, Any]) -> str:
    """Render `template_name` (a path relative to the workspace's templates folder, e.g.
    "report/weekly.md.j2") with `context`. A missing template or variable, or a template error,
    is an InputError naming the template."""
    return render_from(workspace.templates_dir, template_name, context)


def render_from(templates_dir: Path, template_name: str, context: dict[str, Any]) -> str:
    with _template_errors(templates_dir, template_name):
        env = _environment(search_path(templates_dir))
        return env.get_template(template_name).render(context)


def loaded_template(templates_dir: Path, template_name: str) -> Callable[[dict[str, Any]], str]:
    """`template_name` loaded and compiled now, for a long-running process that renders it on
    every request (the survey page): each render then skips the look-up and the check of the
    file's time (`auto_reload`), and an edit is seen after a restart. Errors as render_from's,
    a missing or broken template at once."""
    with _template_errors(templates_dir, template_name):
        template = _environment(search_path(templates_dir)).get_template(template_name)

    def render_loaded(context: dict[str, Any]) -> str:
        with _template_errors(templates_dir, template_name):
            return template.render(context)

    return render_loaded


@contextmanager
def _template_errors(templates_dir: Path, template_name: str) -> Iterator[None]:
    """Jinja's errors as one InputError naming the template."""
    # lazy: Jinja only when rendering
    from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError, UndefinedError

    try:
        yield
    except TemplateNotFound as exc:
        if exc.name and exc.name != template_name:
            raise InputError(f"template {template_name!r} includes {exc.name!r}, which is not a "
                             f"template in {templates_dir} or the packaged set; templates can "
                             "include only other templates, by their names there.") from None
        raise InputError(f"template {template_name!r} is missing from {templates_dir}; restore it "
                         "or remove the templates override.") from None
    except TemplateSyntaxError as exc:
        raise InputError(f"template {template_name!r} has a syntax error at line {exc.lineno}: "
                         f"{exc.message}.") from None
    except UndefinedError as exc:
        raise InputError(f"template {template_name!r} uses something unmo does not provide: "
                         f"{str(exc.message).rstrip('.')}.") from None
    except TemplateError as exc:
        raise InputError(f"template {template_name!r} failed: {str(exc).rstrip('.')}.") from None


def template_files(templates_dir: Path, folder: str) -> list[tuple[str, Path]]:
    """Every file under `folder` along the search path, as (loader name, file) pairs such as
    ("customer/email/welcome.md.j2", …), the override's copy winning, in a stable order."""

    found: dict[str, Path] = {}
    for root in search_path(templates_dir):
        for current, subfolders, names in os.walk(os.path.join(root, folder)):
            subfolders[:] = [d for d in subfolders if not d.startswith(".")
                             and d != "__pycache__"]
            relative = os.path.relpath(current, root).replace(os.sep, "/")
            for name in names:
                if not name.startswith("."):
                    found.setdefault(f"{relative}/{name}", Path(current, name))
    if not found:
        raise EnvironmentFailure(f"no templates under {folder}/ in {templates_dir}; restore "
                                 "them or remove the templates override.")
    return sorted(found.items())


def output_name(template_name: str) -> str:
    """`customer/email/welcome.html.j2` → `email/welcome.html` (relative to its folder)."""
    return template_name.split("/", 1)[1].removesuffix(TEMPLATE_SUFFIX)
