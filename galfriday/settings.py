"""What a run is made of: the configuration file turned into an engine's settings.

:func:`load_config` is the one way from a TOML file (or none) to :class:`Settings`, used by
``galfriday run`` and by a bot that opens the engine itself (``galfriday.load_config``): every
section counts, credentials come from the environment, the nonce file sits beside the
database. Without a file the settings describe the embedded default: galfriday's own Kraken
simulator on loopback with its test credentials (a paper account), no network needed.

Rules:
- Every problem is a :class:`~galfriday.errors.ConfigError` naming the field and the fix.
- Nothing is started or written here; :func:`galfriday.api.open_engine` starts what the
  settings describe.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import msgspec

from galfriday.capture.writer import CaptureConfig
from galfriday.config import CaptureSection, Config, check_endpoints, credentials
from galfriday.config import load_config as read_config_file
from galfriday.core.rails import Rails
from galfriday.events import Severity
from galfriday.kraken.ratelimit import TIERS, Tier
from galfriday.live.alerts import WebhookConfig
from galfriday.live.engine import EngineConfig
from galfriday.live.marketdata import MarketDataConfig
from galfriday.reconcile.compare import Limits, Thresholds
from galfriday.reconcile.run import ReconcileConfig

if TYPE_CHECKING:
    from galfriday.sim.config import SimUrls

__all__ = [
    "SEEDS",
    "Mode",
    "Settings",
    "capture_config",
    "embedded_engine",
    "engine_config",
    "kill_file",
    "load_config",
    "nonce_file",
    "reconcile_config",
]

Mode = Literal["trade", "read-only", "market-data"]
SEEDS: Final = 1_000_000  # the embedded simulator's fresh seed is drawn below this


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, as :func:`load_config` read it.

    Attributes:
        engine: the engine's configuration; ``None`` for the embedded simulator (its URLs
            are only known once it listens: :func:`galfriday.api.open_engine` fills them in).
        config: the file's sections (the defaults without a file).
        path: the file read, if any.
        mode: ``trade``, ``read-only`` or ``market-data``.
        database: the audit database.
        capture: the capture settings, ``None`` when capture is off.
        seed: the embedded simulator's market seed.
    """

    engine: EngineConfig | None
    config: Config = field(default_factory=Config)
    path: Path | None = None
    mode: Mode = "trade"
    database: Path = Path("galfriday.db")
    capture: CaptureConfig | None = None
    seed: int = 0

    @property
    def embedded(self) -> bool:
        """True when the run is against galfriday's own simulator on loopback."""
        return self.engine is None

    @property
    def rails(self) -> Rails:
        """``[rails]``, the kill switch's file resolved (default: :func:`kill_file`)."""
        rails = self.config.rails
        if rails.kill_file is not None:
            return rails
        return msgspec.structs.replace(rails, kill_file=str(kill_file(self.database)))


def load_config(
    path: str | Path | None = None,
    *,
    mode: Mode | None = None,
    database: str | Path | None = None,
    capture: bool = True,
    capture_dir: str | Path | None = None,
    seed: int | None = None,
) -> Settings:
    """The settings of ``path`` (a TOML file), or of the embedded simulator without one.

    Args:
        path: the configuration file (``galfriday run --config``); ``None`` for the embedded
            default: the simulator, trading a paper account.
        mode: overrides ``[engine] mode`` (``--read-only``, ``--market-data-only``).
        database: overrides ``[engine] database`` (``--db``).
        capture: ``False`` turns capture off whatever ``[capture]`` says (``--no-capture``).
        capture_dir: overrides ``[capture] folder`` (``--capture-dir``).
        seed: the embedded simulator's market seed (fresh unless given).

    Raises:
        ConfigError: an unreadable or invalid file, missing credentials for a mode that needs
            them, or a plain-text URL with keys.
    """
    if path is None:
        chosen: Mode = mode or "trade"
        db = Path(database) if database is not None else Path("galfriday.db")
        return Settings(
            engine=None,
            mode=chosen,
            database=db,
            capture=capture_config(CaptureSection(), enabled=capture, folder=capture_dir),
            seed=seed if seed is not None else secrets.randbelow(SEEDS),
        )
    config = read_config_file(Path(path))
    chosen = mode or config.engine.mode
    db = Path(database) if database is not None else Path(config.engine.database)
    capturing = capture_config(config.capture, enabled=capture, folder=capture_dir)
    engine = engine_config(config, mode=chosen, database=db, capture=capturing)
    return Settings(
        engine=engine,
        config=config,
        path=Path(path),
        mode=chosen,
        database=db,
        capture=capturing,
        seed=seed or 0,
    )


def engine_config(
    config: Config, *, mode: Mode, database: Path, capture: CaptureConfig | None
) -> EngineConfig:
    """The engine a configuration file describes (credentials from the environment)."""
    key, secret = credentials(mode)
    check_endpoints(config, keyed=key is not None)
    alerts = config.alerts
    return EngineConfig(
        ws_public=config.kraken.ws_public,
        ws_private=config.kraken.ws_private,
        rest=config.kraken.rest,
        database=database,
        nonce_path=nonce_file(database),
        api_key=key,
        api_secret=secret,
        trading=mode == "trade",
        marketdata=MarketDataConfig(
            symbols=tuple(config.engine.symbols),
            depth=config.engine.depth,
            ohlc_intervals=tuple(config.engine.ohlc_intervals),
        ),
        silence_timeout=config.engine.silence_timeout,
        health_interval=config.engine.health_interval,
        rest_tier=config.kraken.tier,
        rest_counter=_rest_counter(config),
        reconcile=reconcile_config(config) if config.reconcile.enabled else None,
        capture=capture,
        webhook=WebhookConfig(
            url=alerts.webhook,
            min_severity=Severity(alerts.min_severity),
            per_minute=alerts.per_minute,
        )
        if alerts.webhook
        else None,
    )


def embedded_engine(settings: Settings, urls: SimUrls) -> EngineConfig:
    """The engine for the embedded simulator at ``urls``, as the settings say: keyed unless
    market data only, trading in trade mode."""
    from galfriday.sim.embedded import engine_config_for

    market_only = settings.mode == "market-data"
    return engine_config_for(
        urls,
        settings.database,
        keyed=not market_only,
        nonce_path=nonce_file(settings.database),
        trading=settings.mode == "trade",
        reconcile=ReconcileConfig(interval=60.0),  # the demo account reconciles every minute
        capture=settings.capture,
        sim_seed=settings.seed,
    )


def nonce_file(database: Path) -> Path:
    """Where the highest nonce used is kept: beside the database (``galfriday.db.nonce``),
    so a restart, even with a clock that went back, signs above every nonce already used."""
    return database.with_name(database.name + ".nonce")


def kill_file(database: Path) -> Path:
    """The kill switch's default file, beside the database (``galfriday.db.stop``): while it
    exists the engine sends no order (``galfriday stop`` creates it)."""
    return database.with_name(database.name + ".stop")


def capture_config(
    section: CaptureSection, *, enabled: bool = True, folder: str | Path | None = None
) -> CaptureConfig | None:
    """The capture ``section`` describes; ``None`` when it, or ``enabled``, says off."""
    if not enabled or not section.enabled:
        return None
    return CaptureConfig(
        folder=Path(folder) if folder is not None else Path(section.folder),
        max_bytes=int(section.max_mb * 1024 * 1024),
        max_seconds=section.max_hours * 3600,
    )


def reconcile_config(config: Config) -> ReconcileConfig:
    """Reconciliation as ``[reconcile]`` sets it."""
    rec = config.reconcile
    return ReconcileConfig(
        interval=rec.interval_minutes * 60,
        settle=rec.settle_seconds,
        thresholds=Thresholds(
            critical=rec.critical_above, high=rec.high_from, medium=rec.medium_from
        ),
        limits=Limits(position=rec.correct_position_up_to, balance=rec.correct_balance_up_to),
    )


def _rest_counter(config: Config) -> Tier | None:
    kraken = config.kraken
    if kraken.counter_max is None and kraken.counter_decay is None:
        return None
    tier = TIERS[kraken.tier]
    return Tier(kraken.counter_max or tier.maximum, kraken.counter_decay or tier.decay_per_second)
