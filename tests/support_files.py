"""The readers of generated files, as tests call them: GitHub's Markdown renderer, shellcheck,
bash/sh, yamllint. A tool that is missing skips the test locally and fails it in CI (CI=true),
where .ci/run installs every one of them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from support_ci import skip_or_fail


def need_tool(name: str) -> str:
    """The path of command-line tool `name`; skip (fail under CI) when it is not installed."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (.ci/run installs it with apt-get)"
        skip_or_fail(message)
    return found


def markdown_html(text: str) -> str:
    """Markdown as GitHub renders it (cmark-gfm with its extensions: tables, autolinks, …),
    raw HTML left as is so that any that gets through shows up."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)


def shellcheck(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need_tool("shellcheck"), "--severity=style", str(path)],
                          capture_output=True, text=True)


def yamllint(path: Path) -> subprocess.CompletedProcess[str]:
    """yamllint with its default configuration (`-d default`, whatever config lies around),
    warnings counted as failures (`--strict`)."""
    import sys

    return subprocess.run([sys.executable, "-m", "yamllint", "--strict", "-d", "default",
                           "-f", "parsable", str(path)], capture_output=True, text=True)
