"""Rules about the package as a whole: layering, exports, and the command line."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from galfriday import cli

PACKAGE = Path(__file__).parent.parent / "galfriday"
SANS_IO = [
    "kraken",
    "core",
    "reconcile/compare.py",
    "reconcile/run.py",
    "state.py",
    "audit/tables.py",
    "audit/mapping.py",
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


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imported(name: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """Every name an import statement in module ``name`` loads, relative ones made absolute."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
        anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
        base = f"{anchor}.{base}" if base else anchor
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def _import_graph() -> dict[str, set[str]]:
    """galfriday module -> every name it imports anywhere in its body (module level, inside
    functions, under ``TYPE_CHECKING``): galfriday modules, or third-party top-level names."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for imported in _imported(name, node):
                    if imported in MODULES:
                        targets.add(imported)
                    elif not imported.startswith("galfriday"):
                        targets.add(imported.split(".")[0])
        targets.discard(name)
    return graph


GRAPH = _import_graph()


def _layer(module: str) -> str:
    """The unit the layering is about: a subpackage (``galfriday.live``) or a top-level module
    (``galfriday.cli``). Modules of one subpackage may name one another (for types, say)."""
    return ".".join(module.split(".")[:2])


LAYERS = {
    _layer(source): {
        _layer(t) for s, ts in GRAPH.items() if _layer(s) == _layer(source) for t in ts
    }
    - {_layer(source)}
    for source in GRAPH
}


def _tangles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every set of two or more nodes that import one another, directly or through others
    (Tarjan's strongly connected components), each sorted; names outside ``graph`` are ignored."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    tangles: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for target in sorted(graph[node] & graph.keys()):
            if target not in order:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], order[target])
        if low[node] == order[node]:
            tangle = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(tangle) > 1:
                tangles.append(sorted(tangle))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return sorted(tangles)


def _tangle_imports(tangle: list[str]) -> str:
    """The module imports that tie ``tangle``'s layers together."""
    return ", ".join(
        f"{source} -> {target}"
        for source in sorted(GRAPH)
        for target in sorted(GRAPH[source] & GRAPH.keys())
        if _layer(source) in tangle and _layer(target) in tangle
        and _layer(source) != _layer(target)
    )  # fmt: skip


def _within(module: str, places: Iterable[str]) -> bool:
    """Whether ``module`` is one of ``places`` or inside one of those packages."""
    return any(module == place or module.startswith(place + ".") for place in places)


def _violations(sources: Iterable[str], forbidden: list[str]) -> list[str]:
    """Each import by one of ``sources`` of a module in ``forbidden`` (packages or modules)."""
    return [
        f"{source} imports {target}"
        for source in sorted(sources)
        for target in sorted(GRAPH[source])
        if _within(target, forbidden)
    ]


def test_the_layers_import_one_another_without_a_cycle() -> None:
    tangles = _tangles(LAYERS)
    assert tangles == [], "; ".join(f"{t}: {_tangle_imports(t)}" for t in tangles)


def test_the_tangle_finder_finds_every_cycle_and_only_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c", "trio"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": {"a"}}
    assert _tangles(graph) == [["a", "b", "c"], ["d", "e"]]
    assert _tangles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_relative_imports_resolve_to_the_modules_they_name() -> None:
    tree = ast.parse("from . import checks\nfrom ..kraken.rest import KrakenRest")
    imports = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert [list(_imported("galfriday.audit.store", node)) for node in imports] == [
        ["galfriday.audit", "galfriday.audit.checks"],
        ["galfriday.kraken.rest", "galfriday.kraken.rest.KrakenRest"],
    ]


def test_core_and_the_venue_codec_import_no_trio_and_no_outer_layer() -> None:
    shell = {"galfriday.kraken.rest", "galfriday.kraken.history"}  # the venue's I/O, by design
    sources = [m for m in GRAPH if _within(m, ["galfriday.core", "galfriday.kraken"])]
    outer = [
        "trio",
        "trio_websocket",
        "galfriday.live",
        "galfriday.sim",
        "galfriday.reconcile.service",
        "galfriday.audit",
        "galfriday.capture",
        "galfriday.replay",
    ]
    assert _violations(set(sources) - shell, outer) == []


def test_reconciliation_imports_nothing_from_live() -> None:
    sources = [m for m in GRAPH if _within(m, ["galfriday.reconcile"])]
    assert _violations(sources, ["galfriday.live"]) == []


def test_only_the_composition_roots_import_the_simulator() -> None:
    roots = [
        "galfriday.app",
        "galfriday.api",  # open_engine() with no config file starts the embedded simulator
        "galfriday.settings",
        "galfriday.soak",
        "galfriday.cli",
        "galfriday.sim",
    ]
    sources = [m for m in GRAPH if not _within(m, roots)]
    assert _violations(sources, ["galfriday.sim"]) == []


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


MODULE_LINES = 500
FUNCTION_LINES = 60
LONG_FUNCTIONS = {("cli.py", "build_parser")}  # an argparse table reads best in one piece


def test_modules_and_functions_stay_short() -> None:
    long: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        where = str(path.relative_to(PACKAGE))
        if source.count("\n") > MODULE_LINES:
            long.append(f"{where}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > FUNCTION_LINES and (where, node.name) not in LONG_FUNCTIONS:
                    long.append(f"{where}: {node.name} is {size} lines")
    assert long == []
