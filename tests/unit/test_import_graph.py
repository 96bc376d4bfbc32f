"""The import graph of src/, read from the source (every import, at the top or inside a
function): no module reaches itself again, not even through imports made only for type
checking (a circle of responsibilities all the same: #28 found runtime, replay and worker in
one); each package imports only what docs/development.md's map allows it; the runtime package
never imports the development one; the domain modules import neither boto3 nor urllib3 when
they run (those belong to the adapters: aws/, skipcall/client.py and skipcall/transport.py);
and no module or class outgrows what one reader takes in."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
ADAPTERS = (
    "skipcall_bridge.aws",
    "skipcall_bridge.skipcall.client",
    "skipcall_bridge.skipcall.transport",
)
# Entry points and composition roots: they wire adapters to the domain.
WIRING = {
    "skipcall_bridge.cli.main", "skipcall_bridge.cli.dead_letters", "skipcall_bridge.cli.links",
    "skipcall_bridge.runtime", "skipcall_bridge.handler",
    "skipcall_bridge.replay_handler", "skipcall_bridge.worker_handler",
    "skipcall_bridge.snapstart",
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(tree: ast.Module, name: str, *, typing_too: bool = False) -> set[str]:
    """Every module this one imports when it runs (and, `typing_too`, for type checking)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= set() if typing_too else {id(inner) for inner in ast.walk(node)}
    found: set[str] = set()
    package = name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if not node.level else f"{package}.{node.module}"
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def graph(*, typing_too: bool = False) -> dict[str, set[str]]:
    modules = {module_name(path): path for path in SRC.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported = runtime_imports(ast.parse(path.read_text()), name, typing_too=typing_too)
        edges[name] = {target for target in imported if target in modules and target != name}
    return edges


def test_no_module_imports_itself_through_others() -> None:
    edges = graph(typing_too=True)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    # a package's __init__ importing its own modules is not a circle of responsibilities
    real = [c for c in cycles if not any(c[0] == m.rsplit(".", 1)[0] for m in c[1:])]
    assert real == []


def test_the_runtime_never_imports_the_development_package() -> None:
    leaks = {
        (name, target)
        for name, targets in graph().items()
        if name.startswith("skipcall_bridge.") or name == "skipcall_bridge"
        for target in targets
        if target.startswith("skipcall_bridge_dev")
    }
    assert leaks == set()


def test_domain_modules_import_neither_boto3_nor_urllib3() -> None:
    offenders = set()
    for path in (SRC / "skipcall_bridge").rglob("*.py"):
        name = module_name(path)
        if name.startswith(ADAPTERS) or name in WIRING:
            continue
        imported = runtime_imports(ast.parse(path.read_text()), name)
        offenders |= {
            (name, target) for target in imported
            if target.split(".")[0] in ("boto3", "botocore", "urllib3")
        }  # fmt: skip
    assert offenders == set()


def test_the_mended_circles_stay_mended_even_for_type_checking() -> None:
    """verify/hmac.py and verify/schemes.py shared the `signed` template's rules, each importing
    the other: the grammar and its rules now live in verify/hmac_grammar.py."""
    pairs = [("skipcall_bridge.verify.hmac", "skipcall_bridge.verify.schemes")]
    for first, second in pairs:
        for name, other in ((first, second), (second, first)):
            path = SRC / (name.replace(".", "/") + ".py")
            every = {
                node.module
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ImportFrom)
            }
            assert other not in every, f"{name} imports {other}"


# Which packages each package of the runtime may import (besides itself): the map in
# docs/development.md. `skipcall.models` and `skipcall.retry` are the vocabulary of Skipcall's
# answers, which every layer speaks; the rest of skipcall/ is the adapter.
VOCABULARY = {"common", "skipcall.models", "skipcall.retry"}
MAY_IMPORT = {
    "common": VOCABULARY,
    "verify": VOCABULARY,
    "sources": VOCABULARY | {"verify"},
    "acting": VOCABULARY | {"sources"},
    "receive": VOCABULARY | {"sources", "verify", "acting", "skipcall.pacing", "letters"},
    "letters": VOCABULARY | {"sources", "acting", "skipcall.pacing"},
    "skipcall.models": {"common"},
    "skipcall.retry": set(),
    "skipcall.window": {"skipcall.retry"},
    "skipcall.pacing": {"skipcall.retry"},
    "skipcall.transport": VOCABULARY | {"skipcall.window", "root"},
    "skipcall.client": VOCABULARY | {"skipcall.transport"},
    "aws": VOCABULARY,
}


def package(module: str) -> str:
    """`skipcall_bridge.receive.run` -> `receive`; skipcall/'s modules each stand alone."""
    parts = module.split(".")[1:]
    if not parts:
        return "root"
    if parts[0] == "skipcall" and len(parts) > 1:
        return f"skipcall.{parts[1]}"
    return parts[0]


def test_each_package_imports_only_what_the_map_allows() -> None:
    strays = {
        (name, target)
        for name, targets in graph(typing_too=True).items()
        if name.startswith("skipcall_bridge.") and package(name) in MAY_IMPORT
        for target in targets
        if target.startswith("skipcall_bridge")
        and package(target) != package(name)
        and package(target) not in MAY_IMPORT[package(name)]
    }
    assert strays == set()


MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def test_no_module_or_class_outgrows_one_reading() -> None:
    too_long = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{module_name(path)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    too_long.append(f"{module_name(path)}.{node.name}: {size} lines")
    assert too_long == []
