"""The shape of the package, read from its source: no import circle (imports inside functions count; those under
`if TYPE_CHECKING:` never run and do not), the pipelines do not import each other, the providers know no pipeline,
and nothing under crafter/ knows about Vertex AI or Cloud Storage."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import teachkit

PACKAGE = Path(teachkit.__file__).parent
PIPELINES = ("teachkit.crafter", "teachkit.sgd")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def owning_module(name: str) -> str | None:
    """The module of ours a dotted name lives in: `teachkit.llm.spec.parse_spec` -> `teachkit.llm.spec`."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def executed_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at module level, in functions and classes, not under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def imported_names(module: str, path: Path) -> set[str]:
    """The dotted names `module` imports, absolute (relative imports resolved), ours and others'."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in executed_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of teachkit it imports (`from teachkit.sgd.judges import acts` -> the acts module)."""
    graph = {}
    for module, path in MODULES.items():
        targets = {owning_module(name) for name in imported_names(module, path) if under(name, "teachkit")}
        graph[module] = {target for target in targets if target and target != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def edges(graph: dict[str, set[str]], source: str, target: str) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in graph.items() if under(a, source)
                  for b in targets if under(b, target))


def test_the_graph_sees_imports_inside_functions_and_skips_type_checking_ones():
    graph = import_graph()
    # `resolve_model` -> `local_model_name` was once a function-level import; dagger_report's DaggerRun is a hint.
    assert "teachkit.llm.spec" in graph["teachkit.checkpoints"]
    assert "teachkit.crafter.dagger" not in graph["teachkit.crafter.dagger_report"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_counting_imports_inside_functions():
    assert circles(import_graph()) == []


def test_the_pipelines_do_not_import_each_other():
    graph = import_graph()
    assert edges(graph, "teachkit.crafter", "teachkit.sgd") == []
    assert edges(graph, "teachkit.sgd", "teachkit.crafter") == []


def test_providers_and_shared_layers_import_no_pipeline():
    graph = import_graph()
    for layer in ("teachkit.llm", "teachkit.students", "teachkit.sft_data", "teachkit.vertex", "teachkit.checkpoints",
                  "teachkit.records", "teachkit.settings"):
        for pipeline in (*PIPELINES, "teachkit.cli", "teachkit.api"):
            assert edges(graph, layer, pipeline) == [], f"{layer} imports {pipeline}"


def test_crafter_knows_nothing_of_vertex_or_cloud_storage():
    graph = import_graph()
    assert edges(graph, "teachkit.crafter", "teachkit.vertex") == []
    for module, path in MODULES.items():
        if under(module, "teachkit.crafter"):
            others = imported_names(module, path)
            assert not [name for name in others if under(name, "google.cloud") or under(name, "google.genai")], module
    # The words too (`grep -rniE "vertex|storage|gcs" src/teachkit/crafter`): served models are named by their spec
    # kind, tuning job records are read through `students.served`, the limits are the target format's.
    words = re.compile(r"vertex|storage|gcs", re.IGNORECASE)
    mentions = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
                for path in sorted((PACKAGE / "crafter").rglob("*.py"))
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                if words.search(line)]
    assert mentions == []
