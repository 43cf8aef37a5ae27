"""The cube layer's import rules: nothing imports the plugin back; metadata modules import no torch."""

from __future__ import annotations

import ast
from pathlib import Path

import geocodec

ROOT = Path(geocodec.__file__).parent
HEAVY = ("torch", "compressai", "geocodec.codec", "geocodec.registry", "geocodec.model")


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_no_geocodec_module_imports_the_plugin():
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                 if any(m.split(".")[0] == "numcodecs_plugin" for m in _imports(p, top_level_only=False))]
    assert offenders == []


def test_cube_metadata_modules_import_no_torch_at_import_time():
    for name in ("settings.py", "cube/__init__.py", "cube/record.py", "cube/store.py", "cube/lock.py",
                 "cube/chunks.py", "cube/inputs.py", "cube/quality.py"):
        heavy = [m for m in _imports(ROOT / name, top_level_only=True) if m.startswith(HEAVY)]
        assert heavy == [], f"{name} imports {heavy} at import time"
