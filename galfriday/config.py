"""``galfriday run`` configuration: a TOML file, checked field by field.

Every problem becomes a :class:`~galfriday.errors.ConfigError` that names the field
(``engine.depth``) and the fix, in one line. Unknown fields are errors too: a typo must not be
silently ignored. API credentials never come from the file: ``KRAKEN_API_KEY`` and
``KRAKEN_API_SECRET`` from the environment.

Every number must be finite (TOML's ``nan`` and ``inf``, and strings such as ``"NaN"`` or
``"Infinity"``, are refused) and within the range the example states; ``[demo] symbol`` must be
one of ``engine.symbols`` when the demo is enabled. With API keys, :func:`check_endpoints`
refuses ``http://`` and ``ws://`` URLs to any host but this one (the key, its signatures and the
WebSocket token would cross the network in clear) unless ``allow_plain_http`` says it is a test
rig.

Example (the README carries the same; ranges in the comments)::

    [kraken]
    ws_public = "wss://ws.kraken.com/v2"
    ws_private = "wss://ws-auth.kraken.com/v2"
    rest = "https://api.kraken.com"
    tier = "intermediate"            # starter | intermediate | pro
    # counter_max = 20               # 2..1000: the tier's REST call counter maximum and
    # counter_decay = 0.5            # 0.01..100 its decay a second, should Kraken change them
    # allow_plain_http = false       # test rigs only: keys over http:// or ws:// to another host

    [engine]
    mode = "read-only"               # trade | read-only | market-data
    symbols = ["BTC/USD", "ETH/USD"]
    depth = 10                       # 10 | 25 | 100 | 500 | 1000
    ohlc_intervals = [1]
    database = "galfriday.db"
    silence_timeout = 10.0           # 1..300 seconds without any frame before a reconnect
    health_interval = 10.0           # 1..3600 seconds between health lines

    [reconcile]
    interval_minutes = 60            # 1..10080 (a week)
    settle_seconds = 5               # 0..300: an order or trade this recent waits for the stream
    critical_above = "0.10"          # fractions of the exchange's value, each above 0 and at
    high_from = "0.05"               # most 1, with medium_from <= high_from <= critical_above
    medium_from = "0.01"
    correct_position_up_to = "0.01"  # units (finite, >= 0); larger differences go to review
    correct_balance_up_to = "0.001"

    [alerts]
    webhook = "https://hooks.example.com/galfriday"   # optional: a JSON POST per alert
    urls = []                        # optional: apprise URLs, e.g. ["ntfy://my-topic"]
    min_severity = "high"            # low, medium, high or critical (docs/operations.md)
    per_minute = 10                  # 1..1000

    [capture]
    enabled = true
    folder = "captures"
    max_mb = 256                     # 1..102400: a new part when one reaches this size...
    max_hours = 24                   # 0.1..720: ...or this age

    [demo]
    enabled = false
    symbol = "BTC/USD"               # one of engine.symbols

    [strategy]
    entry = "mybot.strategy:Maker"   # package.module:Name (a class or an async function)
    on_error = "halt"                # halt: stop trading, cancel, alert, keep the account view;
                                     # exit: the same, then the engine exits (code 1)
    [strategy.params]                # handed to the strategy as a dict, as written
    spread = "0.002"

    [rails]                          # enforced on every order a strategy sends; all optional
    max_order_qty = { "BTC/USD" = "0.01", "*" = "1" }         # base units, per pair ("*": others)
    max_order_notional = { "*" = "500" }                      # quote units, per pair
    max_position = { "BTC/USD" = "0.05" }                     # base units held, per pair
    max_open_orders = 10
    cancel_on_stop = true            # cancel the strategy's orders when it stops
    # kill_file = "galfriday.db.stop"  # default: the database path + ".stop" (galfriday stop)

    [http]                           # metrics, health, the dashboard, the JSON API
    bind = "127.0.0.1"               # another address needs a token
    port = 8321
    # token_file = "/etc/galfriday/http-token"   # bearer token, 16+ characters
    allow_trading = false            # orders over HTTP (needs the token)

    [paper]                          # galfriday run --paper and galfriday backtest
    balances = { USD = "10000" }     # the paper account's start (WS v2 asset codes)
    maker_fee = "0.0025"             # fractions of the cost, 0..1
    taker_fee = "0.0040"
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import msgspec

from galfriday.core.rails import ANY, Rails
from galfriday.errors import ConfigError
from galfriday.httpconfig import HttpConfig
from galfriday.kraken.auth import decode_secret
from galfriday.kraken.ratelimit import TIERS
from galfriday.kraken.requests import BOOK_DEPTHS, OHLC_INTERVALS
from galfriday.kraken.wire import bad_number

__all__ = [
    "RANGES",
    "AlertsSection",
    "CaptureSection",
    "Config",
    "DemoSection",
    "EngineSection",
    "KrakenSection",
    "PaperSection",
    "ReconcileSection",
    "StrategySection",
    "check",
    "check_endpoints",
    "credentials",
    "load_config",
]

KEY_ENV: Final = "KRAKEN_API_KEY"
SECRET_ENV: Final = "KRAKEN_API_SECRET"
SECRET_FILE_ENV: Final = "KRAKEN_API_SECRET_FILE"
_SYMBOL: Final = re.compile(r"^[A-Z0-9]{2,10}/[A-Z0-9]{2,10}$")
# field -> (lowest, highest, unit and example); every bound is allowed
RANGES: Final[dict[str, tuple[float, float, str]]] = {
    "kraken.counter_max": (2, 1000, "e.g. 20"),
    "kraken.counter_decay": (0.01, 100, "a second, e.g. 0.5"),
    "engine.silence_timeout": (1, 300, "seconds, e.g. 10"),
    "engine.health_interval": (1, 3600, "seconds, e.g. 10"),
    "reconcile.interval_minutes": (1, 10080, "minutes, e.g. 60"),
    "reconcile.settle_seconds": (0, 300, "seconds, e.g. 5"),
    "alerts.per_minute": (1, 1000, "alerts a minute, e.g. 10"),
    "capture.max_mb": (1, 102400, "MB, e.g. 256"),
    "capture.max_hours": (0.1, 720, "hours, e.g. 24"),
}
_THRESHOLDS: Final = ("medium_from", "high_from", "critical_above")


class KrakenSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ws_public: str = "wss://ws.kraken.com/v2"
    ws_private: str = "wss://ws-auth.kraken.com/v2"
    rest: str = "https://api.kraken.com"
    tier: str = "intermediate"
    counter_max: float | None = None  # override the tier's REST call counter maximum...
    counter_decay: float | None = None  # ...and its decay a second
    allow_plain_http: bool = False  # test rigs only: keys over http:// or ws:// to any host


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
    urls: list[str] = msgspec.field(default_factory=list)  # apprise's: slack://, ntfy://, ...
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


class StrategySection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    entry: str | None = None  # "package.module:Name"
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    on_error: Literal["halt", "exit"] = "halt"


class PaperSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    balances: dict[str, Decimal] = msgspec.field(default_factory=lambda: {"USD": Decimal(10000)})
    maker_fee: Decimal = Decimal("0.0025")
    taker_fee: Decimal = Decimal("0.0040")


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kraken: KrakenSection = msgspec.field(default_factory=KrakenSection)
    engine: EngineSection = msgspec.field(default_factory=EngineSection)
    reconcile: ReconcileSection = msgspec.field(default_factory=ReconcileSection)
    alerts: AlertsSection = msgspec.field(default_factory=AlertsSection)
    demo: DemoSection = msgspec.field(default_factory=DemoSection)
    capture: CaptureSection = msgspec.field(default_factory=CaptureSection)
    strategy: StrategySection = msgspec.field(default_factory=StrategySection)
    rails: Rails = msgspec.field(default_factory=Rails)
    paper: PaperSection = msgspec.field(default_factory=PaperSection)
    http: HttpConfig | None = None  # absent: no HTTP server (embedded runs: one on loopback)


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
    """The value rules msgspec's types cannot express (see the module docstring).

    Raises:
        ConfigError: the first field that breaks one, with the fix.
    """
    engine, kraken = config.engine, config.kraken
    path = bad_number(config)
    if path is not None:
        problem = "must be a finite number below 1e100 (not nan or inf)"
        raise ConfigError(path.removeprefix("$."), problem)
    for field, (low, high, unit) in RANGES.items():
        section, _, name = field.partition(".")
        value = getattr(getattr(config, section), name)
        if value is not None and not low <= value <= high:
            raise ConfigError(field, f"must be a number from {low:g} to {high:g} {unit}")
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
    for name in ("ws_public", "ws_private"):
        if not getattr(kraken, name).startswith(("ws://", "wss://")):
            raise ConfigError(f"kraken.{name}", "must be a ws:// or wss:// URL")
    if not kraken.rest.startswith(("http://", "https://")):
        raise ConfigError("kraken.rest", "must be an http:// or https:// URL")
    _check_reconcile(config.reconcile)
    hook = config.alerts.webhook
    if hook is not None and not hook.startswith(("http://", "https://")):
        raise ConfigError("alerts.webhook", "must be an http:// or https:// URL")
    for index, url in enumerate(config.alerts.urls, start=1):
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://.", url):
            problem = f"entry {index} is not a URL like ntfy://my-topic or slack://..."
            raise ConfigError("alerts.urls", problem)
    demo = config.demo
    if demo.enabled and demo.symbol not in engine.symbols:
        problem = f"{demo.symbol!r} is not followed: add it to engine.symbols {engine.symbols}"
        raise ConfigError("demo.symbol", problem)
    _check_strategy(config.strategy)
    _check_rails(config.rails, engine.symbols)
    _check_paper(config.paper)


_ENTRY: Final = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _check_strategy(strategy: StrategySection) -> None:
    if strategy.entry is not None and not _ENTRY.match(strategy.entry):
        problem = f"{strategy.entry!r} must read package.module:Name, e.g. mybot.strategy:Maker"
        raise ConfigError("strategy.entry", problem)


def _check_paper(paper: PaperSection) -> None:
    for name in ("maker_fee", "taker_fee"):
        if not 0 <= getattr(paper, name) < 1:
            raise ConfigError(f"paper.{name}", 'a fraction of the cost: "0.0025" is 0.25 %')
    for asset, amount in paper.balances.items():
        if amount < 0:
            raise ConfigError(f"paper.balances.{asset}", "must be 0 or more")


def _check_rails(rails: Rails, symbols: list[str]) -> None:
    for name in ("max_order_qty", "max_order_notional", "max_position"):
        for symbol, limit in getattr(rails, name).items():
            if symbol != ANY and symbol not in symbols:
                problem = f'{symbol!r} is not followed: a pair of engine.symbols, or "*"'
                raise ConfigError(f"rails.{name}", problem)
            if not limit > 0:
                raise ConfigError(f"rails.{name}.{symbol}", "must be above 0")
    if rails.max_open_orders is not None and rails.max_open_orders < 1:
        raise ConfigError("rails.max_open_orders", "must be 1 or more")


def _check_reconcile(rec: ReconcileSection) -> None:
    for name in _THRESHOLDS:
        if not 0 < getattr(rec, name) <= 1:
            raise ConfigError(
                f"reconcile.{name}", "must be a fraction above 0 and at most 1 (0.05 is 5 %)"
            )
    if not rec.medium_from <= rec.high_from <= rec.critical_above:
        raise ConfigError("reconcile", "needs medium_from <= high_from <= critical_above")
    for name in ("correct_position_up_to", "correct_balance_up_to"):
        if getattr(rec, name) < 0:
            raise ConfigError(f"reconcile.{name}", "must not be negative, e.g. 0.01 (units)")


def check_endpoints(config: Config, keyed: bool) -> None:
    """With API keys (``keyed``), refuse ``http://`` and ``ws://`` URLs to any host but this
    one (127.0.0.0/8, ::1, localhost): the key, its signatures and the WebSocket token would
    cross the network in clear, and market data could be forged on the way. A test rig opts in
    with ``[kraken] allow_plain_http = true``.

    Raises:
        ConfigError: the first such URL, naming its field.
    """
    kraken = config.kraken
    if not keyed or kraken.allow_plain_http:
        return
    for name in ("rest", "ws_private", "ws_public"):
        url = urlsplit(getattr(kraken, name))
        if url.scheme in ("http", "ws") and not _loopback(url.hostname):
            raise ConfigError(
                f"kraken.{name}",
                f"{url.scheme}:// to {url.hostname} would send the API key in clear: use"
                f" {url.scheme}s://, or (test rigs only) set kraken.allow_plain_http = true",
            )


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
