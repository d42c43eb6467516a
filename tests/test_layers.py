"""No module under src/s5vec imports from a higher layer (DEVELOPERS.md, "How we write code").

Layers, bottom to top: errors -> formats + crypto -> storage -> loader -> index + cache ->
sessions -> server, CLI and tools. A module may import its own layer or any lower one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "s5vec"

LAYER_OF_TOP_PACKAGE = {
    "__init__": 0,
    "errors": 0,
    "formats": 1,
    "crypto": 1,
    "storage": 2,
    "loader": 3,
    "index": 4,
    "cache": 4,
    "sessions": 5,
    "metrics": 5,
    "config": 6,
    "server": 6,
    "cli": 6,
    "devstore": 6,
    "tools": 6,
    "client": 6,
}


def _top_package(module: str) -> str:
    return module.split(".")[1] if module.startswith("s5vec.") else "__init__"


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _internal_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.startswith("s5vec")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.append(".".join([*base, node.module] if node.module else base))
            elif node.module and node.module.startswith("s5vec"):
                names.append(node.module)
    return names


def test_every_top_level_module_has_a_layer() -> None:
    tops = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in _modules()}
    tops -= {"py.typed"}
    assert tops <= set(LAYER_OF_TOP_PACKAGE), tops - set(LAYER_OF_TOP_PACKAGE)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_its_own_or_lower_layers(path: Path) -> None:
    own = ".".join(("s5vec", *path.relative_to(SRC).with_suffix("").parts))
    own_layer = LAYER_OF_TOP_PACKAGE[_top_package(own)]
    for imported in _internal_imports(path):
        layer = LAYER_OF_TOP_PACKAGE.get(_top_package(imported), 99)
        assert layer <= own_layer, f"{own} (layer {own_layer}) imports {imported} (layer {layer})"
