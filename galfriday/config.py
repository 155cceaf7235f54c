"""``galfriday run`` configuration: a TOML file, checked field by field.

Every problem becomes a :class:`~galfriday.errors.ConfigError` that names the field
(``engine.depth``) and the fix, in one line. Unknown fields are errors too: a typo must not be
silently ignored. API credentials never come from the file: ``KRAKEN_API_KEY`` and
``KRAKEN_API_SECRET`` from the environment.

Example (the README carries the same)::

    [kraken]
    ws_public = "wss://ws.kraken.com/v2"
    ws_private = "wss://ws-auth.kraken.com/v2"
    rest = "https://api.kraken.com"
    tier = "intermediate"            # starter | intermediate | pro
    # counter_max = 20               # override the tier's REST call counter, should Kraken
    # counter_decay = 0.5            # change it (its page: "API Rate Limits")

    [engine]
    mode = "read-only"               # trade | read-only | market-data
    symbols = ["BTC/USD", "ETH/USD"]
    depth = 10                       # 10 | 25 | 100 | 500 | 1000
    ohlc_intervals = [1]
    database = "galfriday.db"

    [reconcile]
    interval_minutes = 60
    settle_seconds = 5               # an order or trade this recent waits for the stream
    correct_position_up_to = "0.01"  # units; larger differences go to review
    correct_balance_up_to = "0.001"

    [alerts]
    webhook = "https://hooks.example.com/galfriday"   # optional: a JSON POST per alert
    min_severity = "high"

    [capture]
    enabled = true
    folder = "captures"
    max_mb = 256                     # a new part when one reaches this size...
    max_hours = 24                   # ...or this age

    [demo]
    enabled = false
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Final, Literal

import msgspec

from galfriday.errors import ConfigError
from galfriday.kraken.auth import decode_secret
from galfriday.kraken.ratelimit import TIERS
from galfriday.kraken.requests import BOOK_DEPTHS, OHLC_INTERVALS

__all__ = [
    "AlertsSection",
    "CaptureSection",
    "Config",
    "DemoSection",
    "EngineSection",
    "KrakenSection",
    "ReconcileSection",
    "credentials",
    "load_config",
]

KEY_ENV: Final = "KRAKEN_API_KEY"
SECRET_ENV: Final = "KRAKEN_API_SECRET"
SECRET_FILE_ENV: Final = "KRAKEN_API_SECRET_FILE"
_SYMBOL: Final = re.compile(r"^[A-Z0-9]{2,10}/[A-Z0-9]{2,10}$")


class KrakenSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ws_public: str = "wss://ws.kraken.com/v2"
    ws_private: str = "wss://ws-auth.kraken.com/v2"
    rest: str = "https://api.kraken.com"
    tier: str = "intermediate"
    counter_max: float | None = None  # override the tier's REST call counter maximum...
    counter_decay: float | None = None  # ...and its decay a second


class EngineSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mode: Literal["trade", "read-only", "market-data"] = "read-only"
    symbols: list[str] = msgspec.field(default_factory=lambda: ["BTC/USD", "ETH/USD"])
    depth: int = 10
    ohlc_intervals: list[int] = msgspec.field(default_factory=lambda: [1])
    database: str = "galfriday.db"
    silence_timeout: float = 10.0
    health_interval: float = 10.0


class ReconcileSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    interval_minutes: float = 60.0
    settle_seconds: float = 5.0
    critical_above: Decimal = Decimal("0.10")
    high_from: Decimal = Decimal("0.05")
    medium_from: Decimal = Decimal("0.01")
    correct_position_up_to: Decimal = Decimal("0.01")
    correct_balance_up_to: Decimal = Decimal("0.001")


class AlertsSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    webhook: str | None = None
    min_severity: Literal["low", "medium", "high", "critical"] = "high"
    per_minute: int = 10


class CaptureSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    folder: str = "captures"
    max_mb: float = 256.0
    max_hours: float = 24.0


class DemoSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False
    symbol: str = "BTC/USD"


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kraken: KrakenSection = msgspec.field(default_factory=KrakenSection)
    engine: EngineSection = msgspec.field(default_factory=EngineSection)
    reconcile: ReconcileSection = msgspec.field(default_factory=ReconcileSection)
    alerts: AlertsSection = msgspec.field(default_factory=AlertsSection)
    demo: DemoSection = msgspec.field(default_factory=DemoSection)
    capture: CaptureSection = msgspec.field(default_factory=CaptureSection)


def load_config(path: Path) -> Config:
    """Read and check a configuration file.

    Raises:
        ConfigError: unreadable file, bad TOML, or a field with a wrong name, type or value.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read ({exc.strerror})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"is not valid TOML ({exc})") from exc
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        text = str(exc)
        field, _, where = text.rpartition(" - at `$.")
        if where:
            raise ConfigError(where.rstrip("`"), f"{field}; see the example in the README") from exc
        raise ConfigError(str(path), text) from exc
    check(config)
    return config


def check(config: Config) -> None:
    """The value rules msgspec's types cannot express."""
    engine, kraken = config.engine, config.kraken
    if engine.depth not in BOOK_DEPTHS:
        raise ConfigError("engine.depth", f"must be one of {sorted(BOOK_DEPTHS)}")
    bad = [i for i in engine.ohlc_intervals if i not in OHLC_INTERVALS]
    if bad:
        raise ConfigError("engine.ohlc_intervals", f"{bad} not in {sorted(OHLC_INTERVALS)}")
    if not engine.symbols:
        raise ConfigError("engine.symbols", 'needs at least one symbol, e.g. ["BTC/USD"]')
    for symbol in engine.symbols:
        if not _SYMBOL.match(symbol):
            raise ConfigError("engine.symbols", f"{symbol!r} is not a WS v2 symbol like BTC/USD")
    if kraken.tier not in TIERS:
        raise ConfigError("kraken.tier", f"must be one of {sorted(TIERS)}")
    if kraken.counter_max is not None and not 2 <= kraken.counter_max < 1e9:
        raise ConfigError("kraken.counter_max", "must be a number from 2, e.g. 20")
    if kraken.counter_decay is not None and not 0 < kraken.counter_decay < 1e9:
        raise ConfigError("kraken.counter_decay", "must be a positive number a second, e.g. 0.5")
    for name in ("ws_public", "ws_private"):
        if not getattr(kraken, name).startswith(("ws://", "wss://")):
            raise ConfigError(f"kraken.{name}", "must be a ws:// or wss:// URL")
    if not kraken.rest.startswith(("http://", "https://")):
        raise ConfigError("kraken.rest", "must be an http:// or https:// URL")
    if engine.silence_timeout <= 0 or engine.health_interval <= 0:
        raise ConfigError("engine", "timeouts and intervals must be positive")
    rec = config.reconcile
    if rec.interval_minutes <= 0:
        raise ConfigError("reconcile.interval_minutes", "must be positive")
    if not 0 <= rec.settle_seconds <= 300:
        raise ConfigError("reconcile.settle_seconds", "must be 0 to 300 seconds, e.g. 5")
    if not 0 < rec.medium_from <= rec.high_from <= rec.critical_above:
        raise ConfigError("reconcile", "needs 0 < medium_from <= high_from <= critical_above")
    if rec.correct_position_up_to < 0 or rec.correct_balance_up_to < 0:
        raise ConfigError("reconcile", "correction limits must not be negative")
    hook = config.alerts.webhook
    if hook is not None and not hook.startswith(("http://", "https://")):
        raise ConfigError("alerts.webhook", "must be an http:// or https:// URL")
    if config.capture.max_mb <= 0 or config.capture.max_hours <= 0:
        raise ConfigError("capture", "max_mb and max_hours must be positive")
    if config.alerts.per_minute < 1:
        raise ConfigError("alerts.per_minute", "must be at least 1")


def credentials(mode: str) -> tuple[str | None, bytes | None]:
    """The API key and decoded secret (none in market-data mode).

    The key comes from ``KRAKEN_API_KEY``; the secret from ``KRAKEN_API_SECRET`` or from the
    file named by ``KRAKEN_API_SECRET_FILE`` (e.g. a systemd credential), which must be
    readable by its owner only.

    Raises:
        ConfigError: a mode that needs keys without them, a secret file others can read, or
            a secret that is not base64. No message ever contains the secret.
    """
    if mode == "market-data":
        return None, None
    key, secret = os.environ.get(KEY_ENV), os.environ.get(SECRET_ENV)
    secret_file = os.environ.get(SECRET_FILE_ENV)
    if not secret and secret_file:
        secret = read_secret_file(Path(secret_file))
    if not key or not secret:
        raise ConfigError(
            f"{KEY_ENV}/{SECRET_ENV}",
            f"mode {mode!r} needs the key and the secret ({SECRET_ENV}, or {SECRET_FILE_ENV}"
            ' naming a 0600 file); or use mode = "market-data"',
        )
    return key, decode_secret(secret)


def read_secret_file(path: Path) -> str:
    """The secret in ``path``; refused unless only its owner can read it."""
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise ConfigError(
                SECRET_FILE_ENV,
                f"{path} can be read by group or others (mode {mode & 0o777:o});"
                f" run: chmod 600 {path}",
            )
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(SECRET_FILE_ENV, f"cannot read {path}: {exc.strerror}") from None
