"""The package's shape: layers import only downwards, no import cycles, and no front door imports another door.

The layers (docs/ARCHITECTURE.md), lowest first. A module may import modules of its own layer or of lower ones
(imports inside functions count too: they are imports all the same).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import faceweave

# The package that runs: the source tree in a checkout, site-packages when the tests run from an unpacked sdist.
PACKAGE = Path(faceweave.__file__).resolve().parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("types", "errors", "clock", "faces", "runtime", "samples", "settings", "models.spec", "models.catalog"),
    ("geometry", "compose"),
    ("models",),
    ("media",),
    ("provenance",),
    ("analysis",),
    ("occluders",),
    ("swap",),
    ("engine",),
    ("app",),
    ("api", "live", "batch", "service"),  # the front doors
    ("cli", "lab", "__main__", "__init__"),  # the command line (registers every door's commands) and the lab
)
DOORS = ("api", "live", "batch", "service")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _layer(module: str) -> int:
    """The layer of a module name relative to the package ('swap.mesh_swap' → swap's layer)."""
    best = -1, -1  # (length of the matching prefix, layer)
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best[0]:
                best = len(name), index
    assert best[1] >= 0, f"faceweave.{module} belongs to no layer: add it to LAYERS and docs/ARCHITECTURE.md"
    return best[1]


def _imports(path: Path) -> set[str]:
    """faceweave modules imported anywhere in a file (relative to the package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("faceweave"):
            base = node.module.removeprefix("faceweave").lstrip(".")
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                found.add(candidate if _is_module(candidate) else base)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("faceweave.") for a in node.names if a.name.startswith("faceweave.")}
    return {name for name in found if name}


def _is_module(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_graph_covers_the_package() -> None:
    """The checks below read every module; an empty or partial graph would pass them all."""
    graph = _graph()
    assert len(graph) > 100
    assert {"cli", "engine.core", "swap", "service.app", "batch.runner"} <= set(graph)


def test_every_module_imports_only_its_layer_or_lower() -> None:
    upward = [
        f"faceweave.{module} (layer {_layer(module)}) imports faceweave.{target} (layer {_layer(target)})"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_no_front_door_imports_another() -> None:
    def door(name: str) -> str | None:
        return next((d for d in DOORS if name == d or name.startswith(d + ".")), None)

    crossing = [
        f"faceweave.{module} imports faceweave.{target}"
        for module, targets in _graph().items()
        for target in targets
        if door(module) and door(target) and door(module) != door(target)
    ]
    assert not crossing, "\n".join(crossing)


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if target not in graph or target == module or module.startswith(target + "."):
                continue  # a package's own __init__ re-exporting its modules is not a cycle
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target] if target in path else [module, target])
            elif state.get(target) is None:
                visit(target, [*path, target])
        state[module] = 2

    for module in graph:
        if state.get(module) is None:
            visit(module, [module])
    assert not cycles, "\n".join(" → ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize(("module", "layer"), [("swap.mesh_swap", 7), ("types", 0), ("live.session", 10)])
def test_layer_lookup(module: str, layer: int) -> None:
    assert _layer(module) == layer


def test_no_module_imports_a_posix_only_module_at_import_time() -> None:
    """`faceweave` starts on Windows too: fcntl, pwd, grp, termios and resource exist only on POSIX (the CLI used to
    crash at start-up there through the batch manifest's `import fcntl`)."""
    posix_only = {"fcntl", "pwd", "grp", "termios", "resource"}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: an import inside a function runs when it is used
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] in posix_only]
    assert offenders == []
