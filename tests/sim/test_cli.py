from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from galfriday import cli
from galfriday.sim.cli import parse_pair


@pytest.mark.slow
def test_sim_prints_its_urls_first_and_stops_cleanly_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "galfriday", "sim", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert set(first) == {"ws_public", "ws_private", "rest", "api_key"}
        assert first["ws_public"].startswith("ws://127.0.0.1:")
        assert first["rest"].startswith("http://127.0.0.1:")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["sim", "--host", "0.0.0.0"], "--host: 0.0.0.0 is not loopback; add --allow-remote"),
        (["sim", "--host", "localhost-ish"], "--host: must be an IP address"),
        (["sim", "--pair", "SOL"], "--pair: 'SOL' must look like"),
        (["sim", "--rate", "0"], "--rate: must be above 0"),
    ],
)
def test_bad_sim_arguments_are_one_line_and_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_bad_port_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["sim", "--rest-port", "70000"])
    assert info.value.code == 2
    assert "70000 is not in 0..65535" in capsys.readouterr().err


def test_extra_pairs_get_kraken_style_names() -> None:
    spec = parse_pair("SOL/USD=150:2:8:0.02")
    assert (spec.rest_base, spec.rest_quote, spec.rest_name, spec.v1_name) == (
        "SOL",
        "ZUSD",
        "SOLUSD",
        "SOL/USD",
    )
    assert (spec.price_precision, spec.qty_precision) == (2, 8)


def test_the_simulator_page_documents_the_default_test_credentials() -> None:
    from pathlib import Path

    from galfriday.sim.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

    readme = (Path(__file__).parent.parent.parent / "docs" / "simulator.md").read_text()
    assert f"API key `{DEFAULT_API_KEY}`" in readme and f"`{DEFAULT_API_SECRET}`" in readme
