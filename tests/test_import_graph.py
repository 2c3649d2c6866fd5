"""The map's rules for imports, read from the source: each package imports only packages to its left
(kernels -> core -> {conditioners, autoencoders} -> video -> {pipelines, train} -> apps), names none to its right even
in strings, and no package has an import circle among its own modules (function-level imports included)."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Each package and the sgm packages it may import.
ALLOWED = {
    "kernels": set(),
    "core": {"kernels"},
    "conditioners": {"kernels", "core"},
    "autoencoders": {"kernels", "core"},
    "video": {"kernels", "core", "conditioners", "autoencoders"},
    "pipelines": {"kernels", "core", "conditioners", "autoencoders", "video"},
    "train": {"kernels", "core", "conditioners", "autoencoders", "video"},
}


def _sources(package: str) -> dict[str, Path]:
    src = ROOT / "packages" / f"sgm-{package}" / "src"
    return {".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__"): p
            for p in src.rglob("*.py")}  # fmt: skip


def _imports(module: str, path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("package", list(ALLOWED))
def test_packages_name_only_packages_to_their_left(package):
    others = set(ALLOWED) - ALLOWED[package] - {package}
    pattern = re.compile(r"\bsgm\.(" + "|".join(sorted(others)) + r")\b")
    for module, path in _sources(package).items():
        hits = pattern.findall(path.read_text())
        assert not hits, f"{module} names sgm.{hits[0]}, a package to its right"


@pytest.mark.parametrize("package", list(ALLOWED))
def test_no_import_circle_inside_a_package(package):
    sources = _sources(package)
    graph = {module: {name for name in _imports(module, path) if name in sources and name != module}
             for module, path in sources.items()}  # fmt: skip
    # A package's __init__ importing its own submodules is how Python packages work: not a circle to report.
    graph = {m: {n for n in targets if not m.startswith(n + ".")} for m, targets in graph.items()}
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circle = trail[trail.index(target):] + [target] if target in trail else [module, target]
                pytest.fail(f"import circle in sgm-{package}: {' -> '.join(circle)}")
            if target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
