"""The notification package's shape: every module imports on its own (in a fresh
interpreter), and no module of the package imports a sibling that imports it back."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "earful" / "notify"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def siblings(module: str) -> set[str]:
    """The package modules ``module`` imports (``from . import x``, ``from .x import y``)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found & set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_each_notification_module_imports_on_its_own(module):
    done = subprocess.run([sys.executable, "-c", f"import earful.notify.{module}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def in_cycles(graph: dict[str, set[str]]) -> list[str]:
    """The modules from which the imports lead back to themselves."""

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    return sorted(m for m in graph if reaches(m, m, {m}))


def test_the_cycle_check_finds_a_cycle():
    # What alerts.py, digest.py and health_alerts.py were: each importing the other.
    assert in_cycles({"alerts": {"digest"}, "digest": {"alerts", "chart"}, "chart": set()}) == [
        "alerts", "digest"]


def test_no_module_imports_a_sibling_that_imports_it_back():
    graph = {m: siblings(m) for m in MODULES}
    assert graph["stage"], "the stage should use the package's modules"
    assert in_cycles(graph) == [], f"import cycles: {graph}"


def test_the_package_never_imports_the_old_modules():
    # earful.alerts, earful.digest, earful.health_alerts re-export the package: never back.
    for module in MODULES:
        source = (PACKAGE / f"{module}.py").read_text()
        for old in ("alerts", "digest", "health_alerts"):
            assert f"from ..{old} import" not in source and f"from .. import {old}" not in source


def test_rendering_holds_no_sql():
    for module in ("render", "text", "channels", "mail"):
        source = (PACKAGE / f"{module}.py").read_text()
        assert "SELECT " not in source and ".execute(" not in source, module
