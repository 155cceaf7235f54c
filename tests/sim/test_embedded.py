"""The embedded simulator and the engine configuration pointed at it (run and soak share it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from galfriday.kraken.auth import decode_secret
from galfriday.sim.config import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimUrls
from galfriday.sim.embedded import RATE, SYMBOLS, engine_config_for, open_embedded

URLS = SimUrls(
    ws_public="ws://127.0.0.1:1/v2",
    ws_private="ws://127.0.0.1:2/v2",
    rest="http://127.0.0.1:3",
    api_key=DEFAULT_API_KEY,
)


def test_the_engine_gets_the_simulators_urls_credentials_and_pairs() -> None:
    config = engine_config_for(URLS, Path("x.db"))
    assert (config.ws_public, config.ws_private, config.rest) == (
        URLS.ws_public,
        URLS.ws_private,
        URLS.rest,
    )
    assert config.api_key == DEFAULT_API_KEY
    assert config.api_secret == decode_secret(DEFAULT_API_SECRET)
    assert config.marketdata.symbols == SYMBOLS and config.database == Path("x.db")


def test_without_keys_the_engine_follows_market_data_only() -> None:
    config = engine_config_for(URLS, Path("x.db"), keyed=False)
    assert config.api_key is None and config.api_secret is None


def test_overrides_set_any_other_field_and_an_unknown_one_is_refused() -> None:
    config = engine_config_for(URLS, Path("x.db"), silence_timeout=3.0, nonce_path=Path("n"))
    assert (config.silence_timeout, config.nonce_path) == (3.0, Path("n"))
    with pytest.raises(TypeError):
        engine_config_for(URLS, Path("x.db"), silence_timout=3.0)


async def test_open_embedded_serves_the_market_of_its_seed_and_yields_its_urls() -> None:
    async with open_embedded(42) as (sim, urls):
        assert urls == sim.urls
        assert (sim.config.seed, sim.config.rate) == (42, RATE)
