"""Owns Jinja: the one module that imports jinja2. Templates are files a team edits (the
workspace's templates/ override, else the packaged set); the data handed to them, customer text
included, is only ever data, never template source."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unmo_cli.errors import EnvironmentFailure, InputError

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from unmo_cli.workspace import Workspace

TEMPLATE_SUFFIX = ".j2"


def _autoescape(template_name: str | None) -> bool:
    """HTML-escape only what ends up as HTML (`welcome.html.j2` as well as `page.html`)."""
    if template_name is None:
        return False
    return template_name.removesuffix(TEMPLATE_SUFFIX).endswith((".html", ".htm"))


def yaml_value(value: Any) -> str:
    """A scalar or list written so YAML reads back exactly the same value: JSON is valid YAML,
    and a double-quoted JSON string survives colons, quotes, `#` and leading dashes."""
    return json.dumps(value, ensure_ascii=False)


def dollars(cents: int) -> str:
    """Integer cents shown as dollars after a "$" in the template: 250000 → "2,500.00"."""
    from unmo_cli.money import for_people

    return for_people(cents).replace("$", "", 1)


def search_path(templates_dir: Path) -> tuple[str, ...]:
    """The folders a template is looked up in: the workspace's override first, then the
    packaged set, so an override needs only the files it changes."""
    return _search_path(str(templates_dir))


@lru_cache(maxsize=32)
def _search_path(templates_dir: str) -> tuple[str, ...]:
    from unmo_cli.workspace import packaged_templates_dir

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
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    class ConfinedLoader(FileSystemLoader):
        """Serves only files that really are inside its folders: a symlink in a templates
        override that points elsewhere (/etc/passwd, ~/.ssh/…) is refused, not read into a
        customer's folder. (`..` and absolute names never get this far: Jinja refuses them.)"""

        def get_source(self, environment: Any, template: str) -> Any:
            import os

            from jinja2.exceptions import SecurityError

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
    env.filters["yaml"] = yaml_value
    env.filters["dollars"] = dollars
    return env


def _bytecode_cache() -> Any:
    """Compiled templates kept in the user's cache folder (keyed by each template's source, so
    an edit is picked up): compiling them is most of a single onboarding's rendering time.
    Never inside the workspace, and skipped when the cache folder cannot be made."""
    import os

    from jinja2 import FileSystemBytecodeCache

    if os.environ.get("UNMO_NO_TEMPLATE_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "unmo" / "jinja"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        owner = folder.stat()
    except OSError:
        return None
    # Cached bytecode is code this process will run: only from a folder nobody else can write.
    if owner.st_uid != os.getuid() or owner.st_mode & 0o022:
        return None
    return FileSystemBytecodeCache(str(folder))


def render(workspace: Workspace, template_name: str, context: dict[str, Any]) -> str:
    """Render `template_name` (a path relative to the workspace's templates folder, e.g.
    "report/weekly.md.j2") with `context`. A missing template or variable, or a template error,
    is an InputError naming the template."""
    return render_from(workspace.templates_dir, template_name, context)


def render_from(templates_dir: Path, template_name: str, context: dict[str, Any]) -> str:
    from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError, UndefinedError

    env = _environment(search_path(templates_dir))
    try:
        return env.get_template(template_name).render(context)
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
    import os

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
