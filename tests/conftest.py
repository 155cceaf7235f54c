"""Fixtures shared across test packages."""

from __future__ import annotations

import pytest

from tests.replay.session import Session, record_session


@pytest.fixture(scope="session")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """A busy session recorded once against the simulator: its capture and live database."""
    return record_session(tmp_path_factory.mktemp("session"))
