"""Rules about the package as a whole: layering, exports, and the command line."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from galfriday import cli

PACKAGE = Path(__file__).parent.parent / "galfriday"
SANS_IO = [
    "kraken",
    "core",
    "reconcile/compare.py",
    "capture/format.py",
    "sim/market.py",
    "sim/account.py",
    "sim/exchange.py",
    "sim/venue.py",
    "sim/config.py",
    "sim/faults.py",
    "sim/frames.py",
    "sim/httptypes.py",
    "sim/requests.py",
    "sim/rest.py",
    "sim/rows.py",
]
IO_MODULES = {"trio", "trio_websocket", "httpx", "sqlite_utils", "socket", "time", "asyncio"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


IO_ALLOWED = {  # the venue's I/O modules, by design: the REST client and its paging
    PACKAGE / "kraken" / "rest.py",
    PACKAGE / "kraken" / "history.py",
}


@pytest.mark.parametrize("where", SANS_IO)
def test_sans_io_core_never_imports_io_or_clocks(where: str) -> None:
    target = PACKAGE / where
    paths = [target] if target.suffix == ".py" else list(target.rglob("*.py"))
    for path in paths:
        if path not in IO_ALLOWED:
            assert not (_imports(path) & IO_MODULES), path


def test_the_engine_never_imports_the_simulator() -> None:
    for path in PACKAGE.rglob("*.py"):
        composition_root = path.name in ("cli.py", "app.py", "soak.py")
        if "sim" not in path.relative_to(PACKAGE).parts and not composition_root:
            assert not any(m.startswith("galfriday.sim") for m in _modules(path)), path


def _modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_every_module_all_names_exist() -> None:
    for path in PACKAGE.rglob("*.py"):
        module_name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if module_name.endswith("__main__"):
            continue
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{module_name}.{name}"


def test_help_lists_only_commands_that_exist(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        assert name in out
        with pytest.raises(SystemExit):
            cli.main([name, "--help"])


def test_python_dash_m_galfriday_help_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "galfriday", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "usage: galfriday" in result.stdout


def test_unknown_command_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "frobnicate" in err


def test_decode_counts_frames_and_reports_malformed_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = tmp_path / "frames.jsonl"
    frames.write_text('{"channel":"heartbeat"}\n{"channel":"book","type":1}\n\n{"method":"pong"}\n')
    assert cli.main(["decode", str(frames)]) == 1
    out = capsys.readouterr().out
    assert "frames.jsonl:2: malformed frame at $.type" in out
    assert "1  heartbeat" in out and "1  pong" in out and "1  malformed" in out


def test_decode_of_a_missing_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["decode", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "nope: cannot be read" in err and len(err.strip().splitlines()) == 1
