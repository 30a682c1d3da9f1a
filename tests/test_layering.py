"""DESIGN.md's layering: matchers and storage never import Scrapy, each other, or crawler."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "matchers": {"scrapy", "twisted", "storage", "crawler", "spiders", "sqlalchemy"},
    "storage": {"scrapy", "twisted", "matchers", "crawler", "spiders"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_in_their_layer(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in files
        if imported_roots(path) & FORBIDDEN[package]
    }
    assert offenders == {}


def test_importing_the_libraries_loads_no_scrapy() -> None:
    code = (
        "import sys, matchers, storage, matchers.hashing, matchers.decision, storage.media; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('scrapy', 'twisted', 'crawler', 'spiders')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]"


def test_matchers_package_exports_its_entry_points() -> None:
    import matchers

    for name in matchers.__all__:
        assert getattr(matchers, name) is not None, name
    assert matchers.hash_image(b"").status == "unsupported"
