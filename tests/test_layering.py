"""DESIGN.md's layering, checked on every import statement (function-level ones included).

matchers and storage never import Scrapy, each other, or crawler; inside crawler the arrows
run one way: interfaces (cli, web) -> services -> engine (the Scrapy parts) -> the shared
bottom (adapter, index_cache, config, errors, clock, files); spiders are driven by the
engine and never imported back.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_ROOTS = {
    "matchers": {"scrapy", "twisted", "storage", "crawler", "spiders", "sqlalchemy"},
    "storage": {"scrapy", "twisted", "matchers", "crawler", "spiders"},
    "crawler": {"spiders"},
}
# Package prefix -> module prefixes it must not import.
FORBIDDEN_MODULES = {
    "crawler.engine": ("crawler.services", "crawler.cli", "crawler.web"),
    "crawler.services": ("crawler.cli", "crawler.web"),
    "crawler.web": ("crawler.cli",),
    "crawler.adapter": ("crawler.engine", "crawler.services", "crawler.cli", "crawler.web"),
    "crawler.config": ("crawler.engine", "crawler.services", "crawler.cli", "crawler.web"),
    "crawler.errors": ("crawler.engine", "crawler.services", "crawler.cli", "crawler.web"),
    "crawler.clock": ("crawler.engine", "crawler.services", "crawler.cli", "crawler.web"),
    "crawler.files": ("crawler.engine", "crawler.services", "crawler.cli", "crawler.web"),
    "crawler.index_cache": ("crawler.engine", "crawler.services", "crawler.cli", "crawler.web"),
    "crawler.sitegen": ("crawler.services", "crawler.cli", "crawler.web"),
    "spiders": ("crawler.services", "crawler.cli", "crawler.web"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN_ROOTS))
def test_package_imports_stay_in_their_layer(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    offenders = {}
    for path in files:
        roots = {name.split(".")[0] for name in imported_modules(path)}
        if roots & FORBIDDEN_ROOTS[package]:
            offenders[str(path.relative_to(ROOT))] = sorted(roots & FORBIDDEN_ROOTS[package])
    assert offenders == {}


def test_arrows_inside_crawler_run_one_way() -> None:
    offenders: dict[str, list[str]] = {}
    for path in sorted([*(ROOT / "crawler").rglob("*.py"), *(ROOT / "spiders").rglob("*.py")]):
        name = module_name(path)
        for prefix, banned in FORBIDDEN_MODULES.items():
            if not _under(name, prefix):
                continue
            bad = sorted(m for m in imported_modules(path)
                         if any(_under(m, b) for b in banned))
            if bad:
                offenders[name] = bad
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


def test_cli_help_loads_no_database_scrapy_or_numpy() -> None:
    """`trawl --help` and every command's import stay light: what they need loads on use."""
    code = (
        "import sys, crawler.cli.main; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'scrapy', 'twisted', 'sqlalchemy', 'alembic', 'numpy', 'PIL', 'spiders'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]"


def test_matchers_package_exports_its_entry_points() -> None:
    import matchers

    for name in matchers.__all__:
        assert getattr(matchers, name) is not None, name
    assert matchers.hash_image(b"").status == "unsupported"
