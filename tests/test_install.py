"""What each way in installs: running needs no developer tools; tests and lint get them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent
DEV_TOOLS = ("pytest", "hypothesis", "ruff", "mypy", "python-kraken-sdk")


def _recipes() -> dict[str, str]:
    """Each justfile recipe's name and what follows its colon (its dependencies)."""
    text = (ROOT / "justfile").read_text()
    return {
        m["name"]: m["deps"].strip()
        for m in re.finditer(r"^(?P<name>[a-z_-]+)[^:\n]*:(?!=)(?P<deps>[^\n]*)$", text, re.M)
    }


def test_the_runtime_dependencies_hold_no_developer_tool() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"])
    assert not [tool for tool in DEV_TOOLS if tool in runtime]
    dev = project["optional-dependencies"]["dev"]
    assert dev == ["galfriday[test,lint]"]


def test_running_recipes_install_runtime_only_and_developer_recipes_the_dev_extra() -> None:
    recipes = _recipes()
    for name in ("run", "galfriday", "soak"):
        assert recipes[name] == "env", name
    for name in ("test", "test-fast", "lint", "bench"):
        assert recipes[name] == "dev-env", name
    assert recipes["env"] == '(_venv "runtime")' and recipes["dev-env"] == '(_venv "dev")'
    text = (ROOT / "justfile").read_text()
    assert 'spec="."' in text and 'spec=".[dev]"' in text


def test_ci_needs_only_python_and_pip_and_runs_test_and_lint() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "python3 -m pip install --quiet rust-just" in " ".join(lines)
    assert lines[-2:] == ["just test", "just lint"]
