"""HttpConfig's rules: loopback by default, a token for anything else."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from galfriday.errors import ConfigError
from galfriday.web import HttpConfig

TOKEN = "x" * 20


def test_defaults_are_loopback_port_8321_without_trading() -> None:
    config = HttpConfig()
    assert (config.bind, config.port, config.token, config.allow_trading) == (
        "127.0.0.1", 8321, None, False,
    )  # fmt: skip


def test_a_public_bind_without_a_token_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        HttpConfig(bind="0.0.0.0")
    assert raised.value.field == "http.bind"


def test_a_public_bind_with_a_token_is_accepted() -> None:
    assert HttpConfig(bind="0.0.0.0", token=TOKEN).token == TOKEN


def test_trading_needs_a_token() -> None:
    with pytest.raises(ConfigError) as raised:
        HttpConfig(allow_trading=True)
    assert raised.value.field == "http.allow_trading"


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        HttpConfig(token="short")
    assert raised.value.field == "http.token"


def test_a_port_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError):
        HttpConfig(port=70000)


def test_the_rules_hold_when_decoded_from_toml() -> None:
    with pytest.raises(ConfigError):
        msgspec.toml.decode(b'bind = "192.168.1.2"\n', type=HttpConfig)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.toml.decode(b"tokn = 'x'\n", type=HttpConfig)


@pytest.mark.parametrize("bind", ["localhost", "127.0.0.2", "::1", "[::1]"])
def test_loopback_binds_need_no_token(bind: str) -> None:
    assert HttpConfig(bind=bind).token is None


def test_an_ipv6_bind_is_bracketed_as_a_url_host() -> None:
    assert HttpConfig(bind="::1").host == "[::1]"


def test_the_token_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert HttpConfig(bind="0.0.0.0", token_file=str(path)).secret() == TOKEN


def test_an_unreadable_token_file_is_a_config_error(tmp_path: Path) -> None:
    config = HttpConfig(token_file=str(tmp_path / "missing"))
    with pytest.raises(ConfigError) as raised:
        config.secret()
    assert raised.value.field == "http.token_file"


def test_token_and_token_file_together_are_refused() -> None:
    with pytest.raises(ConfigError):
        HttpConfig(token=TOKEN, token_file="/x")
