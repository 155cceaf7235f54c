"""``--log-json``: one flat JSON object a line, bound fields at the top level."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from loguru import logger

from galfriday.app import _configure_logging


def _json_lines(tmp_path: Path) -> list[dict[str, object]]:
    log = tmp_path / "galfriday.log"
    args = argparse.Namespace(log_level="INFO", log_json=True, log_file=log)
    _configure_logging(args)
    try:
        logger.bind(conn="public", symbol="BTC/USD").info("book {} <resynced> {{x}}", "ok")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
        logger.complete()
    finally:
        logger.remove()
        logger.disable("galfriday")
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_log_json_lines_are_flat_with_bound_fields_at_the_top(tmp_path: Path) -> None:
    first = _json_lines(tmp_path)[0]
    assert set(first) == {"time", "level", "message", "conn", "symbol"}
    assert first["message"] == "book ok <resynced> {x}"
    assert (first["level"], first["conn"], first["symbol"]) == ("INFO", "public", "BTC/USD")
    assert str(first["time"])[:2] == "20" and "T" in str(first["time"])


def test_log_json_keeps_a_traceback_as_text(tmp_path: Path) -> None:
    second = _json_lines(tmp_path)[1]
    assert second["level"] == "ERROR" and "ValueError: boom" in str(second["exception"])


def test_log_json_on_stderr_is_the_same_flat_line(capsys: pytest.CaptureFixture[str]) -> None:
    _configure_logging(argparse.Namespace(log_level="INFO", log_json=True, log_file=None))
    try:
        logger.bind(conn="private").warning("gap")
    finally:
        logger.remove()
        logger.disable("galfriday")
    line = json.loads(capsys.readouterr().err)
    assert line["message"] == "gap" and line["conn"] == "private" and "record" not in line
