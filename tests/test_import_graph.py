"""The import graph of unmo_cli/ is a DAG, layered: the command boundary (cli, commands and the
modules only they use to talk to a person) -> services -> adapters and shared helpers, never
back. Read from every module's source with `ast`, function-level and TYPE_CHECKING imports
included: a cycle that only works because an import hides in a function body is still a cycle
for the reader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "unmo_cli"

# The command boundary: what parses, prompts, completes and renders for a person.
# survey_server is the same boundary for the web: it parses a person's HTTP requests, renders
# the page and calls the services.
INTERFACE = ("unmo_cli.cli", "unmo_cli.__main__", "unmo_cli.commands", "unmo_cli.completion",
             "unmo_cli.prompts", "unmo_cli.render_report", "unmo_cli.render_review",
             "unmo_cli.render_sla",
             "unmo_cli.console", "unmo_cli.survey_server")
SERVICES = ("unmo_cli.services",)
LAYERS = {"interface": 3, "services": 2, "adapters": 1}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layer_of(name: str) -> str:
    if _within(name, INTERFACE):
        return "interface"
    if _within(name, SERVICES):
        return "services"
    return "adapters"


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The unmo_cli modules `name` imports anywhere in its source (a package's __init__ counts
    as the package; `from package import module` as the module)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules
                          else module)
    targets = set()
    for target in found:
        if not _within(target, ("unmo_cli",)):
            continue
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        if target != name:
            targets.add(target)
    return targets


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    paths = {_module_name(path, root): path for path in root.rglob("*.py")
             if "__pycache__" not in path.parts}
    return {name: imports_of(name, path, set(paths)) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{source} -> {target}" for source, targets in graph.items()
                  for target in targets if LAYERS[layer_of(target)] > LAYERS[layer_of(source)])


def test_the_import_graph_has_no_cycle():
    assert cycles(import_graph()) == []


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports(import_graph()) == []


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path: Path):
    """The two checks fail on what they exist to catch, in a package built for the purpose."""
    package = tmp_path / "unmo_cli"
    (package / "services").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "services" / "__init__.py").write_text("")
    (package / "services" / "a.py").write_text("def f():\n    from unmo_cli.services import b\n")
    (package / "services" / "b.py").write_text("from unmo_cli.services.a import f\n")
    (package / "db.py").write_text("from .services import a\n")
    graph = import_graph(package)
    assert cycles(graph) == [["unmo_cli.services.a", "unmo_cli.services.b"]]
    assert upward_imports(graph) == ["unmo_cli.db -> unmo_cli.services.a"]


@pytest.mark.parametrize("name", ["unmo_cli.commands.customer", "unmo_cli.services.feedback",
                                  "unmo_cli.db"])
def test_the_graph_reads_the_real_package(name: str):
    assert import_graph()[name], f"{name} imports nothing of unmo_cli? the parser is broken"


def _function_level_imports(path: Path) -> list[ast.stmt]:
    """Imports inside a function body, except under `if TYPE_CHECKING:` and in a `try` that
    handles ImportError (an optional dependency)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        chain = []
        parent = parents.get(node)
        while parent is not None:
            chain.append(parent)
            parent = parents.get(parent)
        if not any(isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)) for p in chain):
            continue
        if any(isinstance(p, ast.If) and "TYPE_CHECKING" in ast.unparse(p.test) for p in chain):
            continue
        if any(isinstance(p, ast.Try) and any("ImportError" in ast.unparse(h.type)
                                              for h in p.handlers if h.type) for p in chain):
            continue
        found.append(node)
    return found


def test_below_the_commands_an_import_in_a_function_says_why():
    """Below the command boundary modules import at the top; an import left in a function
    body carries a `# lazy:` comment (on its line or in the comment lines just above its
    block) saying what it saves."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path, PACKAGE)
        if _within(name, ("unmo_cli.cli", "unmo_cli.commands", "unmo_cli.completion")):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in _function_level_imports(path):
            above = node.lineno - 2
            while above >= 0 and lines[above].lstrip().startswith(("import ", "from ", "#")):
                if "# lazy:" in lines[above]:
                    break
                above -= 1
            explained = "# lazy:" in lines[node.lineno - 1] or (
                above >= 0 and "# lazy:" in lines[above])
            if not explained:
                unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert unexplained == []
