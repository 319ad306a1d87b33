"""The import rule between the layers (docs/architecture.md), read from the source's import statements.

Each first-party module belongs to one layer; a layer may import only the layers listed for it in
MAY_IMPORT (its own included). On top of that: the pure layers never import Pulumi; no first-party
import hides inside a function, an ``if TYPE_CHECKING:`` or any other block (deferred imports are how
cycles get dodged); and the first-party modules form no import cycle, package ``__init__`` files
included. Tests and benchmarks may import anything. ``policy/`` is an island (it runs from its own
virtualenv with only its own folder on the path); ``bootstrap/`` is the delivery layer (its pure builders
derive the CI identities from the stack files through the config model) plus its Pulumi program
``bootstrap/__main__.py``, an entry point like ``infra/__main__.py``.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

from tests.pyparse import parse_python

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("infra", "stacks", "components", "functions", "policy", "bootstrap", "bench", "tests")

#: Layer -> module prefixes (the longest matching prefix wins). Top to bottom.
LAYERS: dict[str, tuple[str, ...]] = {
    "entry": ("infra",),
    "composition": ("stacks.environment",),
    "components": ("components",),
    "documents": (
        "components.aws.policies",
        "components.aws.webhook_policies",
        "components.aws.rotation_policies",
        "components.vault.policies",
    ),
    "rules": ("stacks.checks", "stacks.load"),
    "domain": (
        "stacks.catalog",
        "stacks.credits",
        "stacks.netsuite",
        "stacks.access",
        "stacks.rotation",
        "stacks.locations",
        "stacks.drift",
    ),
    "config": ("stacks.config",),
    "foundations": ("stacks", "stacks.naming", "stacks.errors", "stacks.clock"),
    "runtime": ("functions",),
    "policy pack": ("policy",),
    "delivery": ("bootstrap",),
    "bootstrap program": ("bootstrap.__main__",),
}
_PURE_CORE = {"documents", "rules", "domain", "config", "foundations"}
#: Layer -> the layers it may import.
MAY_IMPORT: dict[str, set[str]] = {
    # The operator commands that talk to Makini (infra/doctor.py) use the deployed Makini client itself, so its
    # host pin and retry rules hold for them too; the runtime imports nothing of ours, so no cycle can form.
    "entry": {"entry", "composition", "components", "delivery", *_PURE_CORE, "runtime"},
    "composition": {"composition", "components", "documents", "domain", "config", "foundations"},
    "components": {"components", "documents", "foundations"},
    "documents": {"documents", "foundations"},
    "rules": {"rules", "domain", "config", "foundations"},
    "domain": {"domain", "config", "foundations"},
    "config": {"config", "foundations"},
    "foundations": {"foundations"},
    "runtime": {"runtime"},
    "policy pack": {"policy pack"},
    "delivery": {"delivery", "rules", "domain", "config", "foundations"},
    "bootstrap program": {"bootstrap program", "entry", "delivery", *_PURE_CORE},
}
#: Layers that never import Pulumi (pure: plain pytest tests them; the runtime is deployed without it).
NO_PULUMI = _PURE_CORE | {"runtime", "delivery"}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    importer: str
    target: str
    #: Not at module level: in a function, class, ``if`` (``TYPE_CHECKING``), ``try`` or ``with`` block.
    deferred: bool


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    best: tuple[int, str] | None = None
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), layer)
    return best[1] if best else None


def _is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _targets(root: Path, importer: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement loads (``from pkg import name`` is pkg.name when that is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [f"{base}.{a.name}" if _is_module(root, f"{base}.{a.name}") else base for a in node.names]


@functools.cache
def imports(root: Path) -> list[Import]:
    """Every import statement of every first-party module under ``root`` (read once per root)."""
    found: list[Import] = []
    for top in FIRST_PARTY:
        for path in sorted((root / top).rglob("*.py")) if (root / top).is_dir() else []:
            if ".venv" in path.parts or "venv" in path.parts or "snapshots" in path.parts:
                continue
            importer = module_name(root, path)
            tree = parse_python(path.read_text(encoding="utf-8"), str(path))
            top_level = {id(n) for n in tree.body}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    for target in _targets(root, importer, path.name == "__init__.py", node):
                        found.append(Import(path, node.lineno, importer, target, id(node) not in top_level))
    return found


def _first_party(module: str) -> bool:
    return module.split(".")[0] in FIRST_PARTY


def upward_imports(root: Path) -> list[str]:
    problems = []
    for imp in imports(root):
        src = layer_of(imp.importer)
        if src is None or imp.target == "__future__":
            continue
        where = f"{imp.path.relative_to(root)}:{imp.line}: {imp.importer} ({src})"
        if _first_party(imp.target):
            dst = layer_of(imp.target)
            if dst is None or dst not in MAY_IMPORT[src]:
                allowed = ", ".join(sorted(MAY_IMPORT[src]))
                problems.append(f"{where} imports {imp.target} ({dst}); {src} may import only: {allowed}")
            elif imp.deferred:
                problems.append(f"{where} imports {imp.target} inside a block; import it at the top of the module")
        elif src in NO_PULUMI and imp.target.split(".")[0].startswith("pulumi"):
            problems.append(f"{where} imports {imp.target}; the {src} layer never imports Pulumi")
    return problems


def import_cycles(root: Path) -> list[list[str]]:
    """Cycles among first-party modules' top-level imports; importing a.b.c also runs a and a.b."""
    graph: dict[str, set[str]] = {}
    for imp in imports(root):
        if imp.deferred or not _first_party(imp.target) or imp.importer.split(".")[0] in ("tests", "bench"):
            continue
        parts = imp.target.split(".")
        edges = graph.setdefault(imp.importer, set())
        for i in range(1, len(parts) + 1):
            package = ".".join(parts[:i])
            # A module's own packages are already being imported when it runs: not an edge.
            if package != imp.importer and not imp.importer.startswith(package + "."):
                edges.add(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_upward_deferred_or_pulumi_import_between_layers():
    problems = upward_imports(ROOT)
    assert not problems, "imports against the layering (docs/architecture.md):\n" + "\n".join(problems)


def test_no_import_cycle():
    assert import_cycles(ROOT) == []


def test_every_module_of_the_layered_packages_has_a_layer():
    unplaced = sorted(
        {
            i.importer
            for i in imports(ROOT)
            if i.importer.split(".")[0] in ("infra", "stacks", "components", "functions")
        }
        - {i.importer for i in imports(ROOT) if layer_of(i.importer) is not None}
    )
    assert not unplaced, unplaced


def test_every_top_level_package_says_what_it_holds():
    for package in ("infra", "stacks", "components", "functions"):
        init = ROOT / package / "__init__.py"
        doc = ast.get_docstring(parse_python(init.read_text()))
        assert doc and len(doc.splitlines()) == 1, f"{init}: a one-line docstring saying what the package holds"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checks_can_fail(tmp_path):
    """An upward import, a deferred one, Pulumi in a pure module and a cycle are each reported."""
    root = _tree(
        tmp_path,
        {
            "stacks/__init__.py": "",
            "stacks/environment/__init__.py": "",
            "stacks/config/__init__.py": "",
            "stacks/config/model.py": "from stacks.environment import x\n",
            "stacks/catalog.py": "def f():\n    from stacks.config import model\n",
            "stacks/naming.py": "import pulumi\n",
            "components/__init__.py": "",
            "components/aws/__init__.py": "",
            "components/aws/store.py": "from components.aws import access\n",
            "components/aws/access.py": "from components.aws import store\n",
        },
    )
    problems = "\n".join(upward_imports(root))
    assert "stacks.config.model (config) imports stacks.environment (composition)" in problems
    assert "stacks.catalog (domain) imports stacks.config.model inside a block" in problems
    assert "stacks.naming (foundations) imports pulumi" in problems
    assert import_cycles(root) == [["components.aws.access", "components.aws.store"]]
