"""The one-way architecture, checked on the source (issue #9): geocodec's static import graph.

Every ``import`` in every module under ``geocodec/`` and ``numcodecs_plugin/`` counts, including the
lazy ones inside functions (a lazy import is still a dependency); only imports under
``if TYPE_CHECKING:`` are left out, because they never run. See docs/architecture.md for the layers.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("geocodec", "numcodecs_plugin")

#: The research side: product code never imports it.
RESEARCH = ("geocodec.training", "geocodec.evaluation", "geocodec.commands.train", "geocodec.commands.evaluate",
            "geocodec.commands.finetune_task")
#: What the model layer (tensors only) must not know: bytes layouts, files, cubes, rasters, xarray,
#: and the layers above it that do.
NOT_FOR_THE_MODEL = ("geocodec.bitstream", "geocodec.chunk_info", "geocodec.codec", "geocodec.coding", "geocodec.cube",
                     "geocodec.io", "geocodec.model_file", "geocodec.registry", "geocodec.settings",
                     "geocodec.stac", "numcodecs_plugin", "zarr", "xarray", "numcodecs", "rasterio",
                     "rioxarray", "safetensors", "fsspec")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imported_names(module: str, path: Path) -> set[str]:
    """The modules a module imports (``from a import b``: ``a.b`` when that is a module), relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for a in node.names:  # a submodule when it is one (``from geocodec import io``), else the module
                names.add(f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return names


IMPORTS = {m: _imported_names(m, p) for m, p in MODULES.items()}


def _own_module(name: str) -> str | None:
    """The geocodec/numcodecs_plugin module a dotted name lives in (``geocodec.io.open_pair`` → ``geocodec.io``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    return {m: {_own_module(n) for n in names} - {None, m} for m, names in IMPORTS.items()}


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := dfs(node)):
            return found
    return None


def test_the_walk_sees_the_whole_package():
    # guards the test itself: a parser that found nothing would pass every rule below
    assert {"geocodec", "geocodec.codec", "geocodec.model.joint", "geocodec.cube.writer",
            "numcodecs_plugin.zarr_codec", "geocodec.training.loop"} <= set(MODULES)
    graph = _graph()
    assert "geocodec.coding.encode" in graph["geocodec.codec"]
    assert "geocodec.bitstream" in graph["geocodec.coding.encode"]
    assert "geocodec.model.entropy" in graph["geocodec.coding.decode"]
    assert "geocodec.cube.chunks" in graph["numcodecs_plugin.numcodecs_codec"]
    assert "geocodec.model.layers" in graph["geocodec.model.joint"]
    assert sum(len(v) for v in graph.values()) > 100


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_graph_has_no_cycle():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_nothing_imports_the_plugin():
    offenders = sorted(m for m, names in IMPORTS.items()
                       if not _under(m, ("numcodecs_plugin",)) and any(_under(n, ("numcodecs_plugin",)) for n in names))
    assert offenders == [], f"{offenders} import numcodecs_plugin (only the entry points may)"


def test_product_code_never_imports_training_or_evaluation():
    offenders = {m: sorted(n for n in names if _under(n, RESEARCH))
                 for m, names in IMPORTS.items() if not _under(m, RESEARCH)}
    assert {m: v for m, v in offenders.items() if v} == {}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _under(m, ("geocodec.model",))))
def test_the_model_knows_tensors_not_bytes_files_or_xarray(module):
    bad = sorted(n for n in IMPORTS[module] if _under(n, NOT_FOR_THE_MODEL))
    assert bad == [], f"{module} imports {bad}"


def test_the_version_is_set_once():
    import importlib.metadata

    import geocodec

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("geocodec") == geocodec.__version__


#: The layers, bottom (0) to top; a module may import its own layer and the ones below.
#: docs/architecture.md draws the same table.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("geocodec.errors", "geocodec.threads", "geocodec.options", "geocodec.normalize", "geocodec.metrics"),
    ("geocodec.model", "geocodec.precision"),
    ("geocodec.bitstream", "geocodec.chunk_info", "geocodec.model_file", "geocodec.registry",
     "geocodec.learned_gamma"),
    ("geocodec.codec", "geocodec.coding", "geocodec.settings"),
    ("geocodec.io", "geocodec.sample"),
    ("geocodec.cube",),
    ("geocodec.stac",),
    ("geocodec.training", "geocodec.evaluation"),
    ("numcodecs_plugin", "geocodec.cli", "geocodec.commands"),
)
#: ``geocodec/__init__.py`` only re-exports, by name and lazily; its own imports are checked below.
FACADE = "geocodec"


def _layer(module: str) -> int:
    found = [k for k, layer in enumerate(LAYERS) if _under(module, layer)]
    assert found, f"{module} is in no layer: add it to LAYERS (and to docs/architecture.md)"
    return found[-1]


def test_every_import_points_down_the_layers():
    graph = _graph()
    up = sorted(f"{m} (layer {_layer(m)}) → {t} (layer {_layer(t)})"
                for m, targets in graph.items() if m != FACADE
                for t in targets if t != FACADE and _layer(t) > _layer(m))
    assert up == []
    assert all(_layer(t) == 0 for t in graph[FACADE]), graph[FACADE]


#: A module longer than this does more than one job: split it by job (issue #9). Nothing is
#: exempt: no module is a generated schema or band table.
MAX_LINES = 350


def test_no_module_does_two_jobs_in_one_long_file():
    lines = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    long = {m: n for m, n in lines.items() if n > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines (split them by job): {long}"
