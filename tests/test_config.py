"""The configuration's value rules: finite numbers in documented ranges, followed symbols,
and no API key over plain HTTP to another host."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from galfriday import config as config_module
from galfriday.config import RANGES, Config, KrakenSection, check_endpoints, load_config
from galfriday.errors import ConfigError


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "galfriday.toml"
    path.write_text(text)
    return load_config(path)


def _refused(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[engine]\nhealth_interval = nan\n", "engine.health_interval"),
        ("[engine]\nsilence_timeout = inf\n", "engine.silence_timeout"),
        ("[reconcile]\ninterval_minutes = -nan\n", "reconcile.interval_minutes"),
        ("[reconcile]\nsettle_seconds = +inf\n", "reconcile.settle_seconds"),
        ("[capture]\nmax_mb = nan\n", "capture.max_mb"),
        ("[capture]\nmax_hours = inf\n", "capture.max_hours"),
        ("[kraken]\ncounter_max = inf\n", "kraken.counter_max"),
        ("[kraken]\ncounter_decay = nan\n", "kraken.counter_decay"),
    ],
)
def test_a_toml_nan_or_inf_is_refused_for_every_float_field(
    tmp_path: Path, text: str, field: str
) -> None:
    error = _refused(tmp_path, text)
    assert error.field == field
    assert "finite" in error.problem


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[reconcile]\ncorrect_position_up_to = "Infinity"\n', "reconcile.correct_position_up_to"),
        ('[reconcile]\ncorrect_balance_up_to = "NaN"\n', "reconcile.correct_balance_up_to"),
        ("[reconcile]\ncorrect_balance_up_to = inf\n", "reconcile.correct_balance_up_to"),
        ('[reconcile]\ncritical_above = "sNaN"\n', "reconcile.critical_above"),
        ('[reconcile]\nhigh_from = "-inf"\n', "reconcile.high_from"),
        ("[reconcile]\nmedium_from = nan\n", "reconcile.medium_from"),
    ],
)
def test_a_non_finite_decimal_threshold_or_limit_is_refused(
    tmp_path: Path, text: str, field: str
) -> None:
    error = _refused(tmp_path, text)
    assert error.field == field
    assert "finite" in error.problem


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[engine]\nhealth_interval = 1e-6\n", "engine.health_interval"),
        ("[engine]\nhealth_interval = 86400\n", "engine.health_interval"),
        ("[engine]\nsilence_timeout = 0.01\n", "engine.silence_timeout"),
        ("[engine]\nsilence_timeout = 3600\n", "engine.silence_timeout"),
        ("[reconcile]\ninterval_minutes = 0.001\n", "reconcile.interval_minutes"),
        ("[reconcile]\ninterval_minutes = 100000\n", "reconcile.interval_minutes"),
        ("[alerts]\nper_minute = 0\n", "alerts.per_minute"),
        ("[alerts]\nper_minute = 100000\n", "alerts.per_minute"),
        ("[capture]\nmax_mb = 0.0001\n", "capture.max_mb"),
        ("[capture]\nmax_hours = 100000\n", "capture.max_hours"),
        ("[kraken]\ncounter_max = 1e12\n", "kraken.counter_max"),
        ("[kraken]\ncounter_decay = 1e9\n", "kraken.counter_decay"),
    ],
)
def test_a_value_outside_its_documented_range_is_refused(
    tmp_path: Path, text: str, field: str
) -> None:
    error = _refused(tmp_path, text)
    assert error.field == field
    low, high, _ = RANGES[field]
    assert f"from {low:g} to {high:g}" in error.problem


def test_every_range_is_in_the_documented_example() -> None:
    doc = config_module.__doc__ or ""
    for field, (low, high, _) in RANGES.items():
        name = field.split(".")[1]
        line = next(line for line in doc.splitlines() if f"{name} =" in line)
        assert f"{low:g}..{high:g}" in line, field


def test_the_range_bounds_themselves_are_allowed(tmp_path: Path) -> None:
    text = (
        "[engine]\nhealth_interval = 1\nsilence_timeout = 300\n"
        "[reconcile]\ninterval_minutes = 10080\nsettle_seconds = 0\n"
        "[alerts]\nper_minute = 1000\n[capture]\nmax_mb = 1\nmax_hours = 0.1\n"
    )
    config = _load(tmp_path, text)
    assert (config.engine.health_interval, config.capture.max_hours) == (1.0, 0.1)


@pytest.mark.parametrize("value", ['"1.5"', '"0"', '"-0.1"'])
def test_a_severity_threshold_must_be_a_fraction_up_to_one(tmp_path: Path, value: str) -> None:
    error = _refused(tmp_path, f"[reconcile]\ncritical_above = {value}\n")
    assert error.field == "reconcile.critical_above"


def test_an_enabled_demo_must_trade_a_followed_symbol(tmp_path: Path) -> None:
    text = '[engine]\nsymbols = ["ETH/USD"]\n[demo]\nenabled = true\nsymbol = "BTC/USD"\n'
    error = _refused(tmp_path, text)
    assert error.field == "demo.symbol"
    assert "engine.symbols" in error.problem


def test_the_documented_strategy_and_rails_example_loads(tmp_path: Path) -> None:
    doc = config_module.__doc__ or ""
    example = doc[doc.index("[strategy]") :].replace("\n    ", "\n")
    config = _load(tmp_path, '[engine]\nsymbols = ["BTC/USD"]\n' + example)
    assert config.strategy.entry == "mybot.strategy:Maker"
    assert config.strategy.params == {"spread": "0.002"}
    assert config.rails.limit(config.rails.max_order_qty, "ETH/USD") == Decimal("1")
    assert config.rails.max_open_orders == 10 and config.rails.cancel_on_stop


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[strategy]\nentry = "not an entry"\n', "strategy.entry"),
        ('[rails]\nmax_order_qty = { "SOL/USD" = "1" }\n', "rails.max_order_qty"),
        ('[rails]\nmax_position = { "*" = "0" }\n', "rails.max_position.*"),
        ('[rails]\nmax_order_notional = { "*" = "NaN" }\n', "rails.max_order_notional.*"),
        ("[rails]\nmax_open_orders = 0\n", "rails.max_open_orders"),
        ('[strategy]\non_error = "ignore"\n', "strategy.on_error"),
    ],
)
def test_a_bad_strategy_or_rail_is_refused(tmp_path: Path, text: str, field: str) -> None:
    assert _refused(tmp_path, text).field == field


# --- keys over plain HTTP -------------------------------------------------------------------


def _kraken(**urls: str | bool) -> Config:
    return Config(kraken=KrakenSection(**urls))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("rest", "http://api.example.com"),
        ("rest", "http://10.0.0.5:8080"),
        ("ws_private", "ws://ws-auth.example.com/v2"),
        ("ws_public", "ws://192.168.1.20/v2"),
        ("rest", "http://[2001:db8::1]:8080"),
    ],
)
def test_keys_over_plain_http_to_another_host_are_refused(field: str, url: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_endpoints(_kraken(**{field: url}), keyed=True)
    assert info.value.field == f"kraken.{field}"
    assert "allow_plain_http" in info.value.problem and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.3.2.1", "http://[::1]:9000", "http://localhost:80"]
)
def test_keys_over_plain_http_to_this_machine_are_allowed(url: str) -> None:
    check_endpoints(_kraken(rest=url, ws_private="ws://127.0.0.1:1/v2"), keyed=True)


def test_plain_http_to_another_host_is_allowed_without_keys() -> None:
    check_endpoints(_kraken(rest="http://api.example.com"), keyed=False)


def test_a_test_rig_opts_in_to_plain_http_in_the_file(tmp_path: Path) -> None:
    config = _load(tmp_path, '[kraken]\nrest = "http://rig.lan:8080"\nallow_plain_http = true\n')
    check_endpoints(config, keyed=True)
    assert config.kraken.allow_plain_http


def test_the_defaults_use_tls_and_pass_with_keys(tmp_path: Path) -> None:
    check_endpoints(_load(tmp_path, ""), keyed=True)
