"""What the simulator can be told (sans-IO): :class:`SimConfig`, and the :class:`SimUrls` it
reports once it serves.

The default credentials are the documented test pair (README): never a real credential.
:meth:`SimConfig.check` refuses a setting that cannot work with a one-line
:class:`~galfriday.errors.ConfigError` naming the flag.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import msgspec

from galfriday.errors import ConfigError
from galfriday.kraken.auth import decode_secret
from galfriday.sim.market import PairSpec, default_pairs

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "SimConfig",
    "SimUrls",
    "default_balances",
    "default_earn",
]

DEFAULT_API_KEY: Final = "galfriday-sim-key"
DEFAULT_API_SECRET: Final = "Z2FsZnJpZGF5IHNpbXVsYXRvciB0ZXN0IHNlY3JldCE="


def default_earn() -> dict[str, Decimal]:
    """Held in an auto-earn wallet: in the balances snapshot's total, listed apart by REST."""
    return {"ETH": Decimal("2.5000000000")}


def default_balances() -> dict[str, Decimal]:
    return {
        "USD": Decimal("100000.0000"),
        "BTC": Decimal("1.0000000000"),
        "ETH": Decimal("10.0000000000"),
        "XRP": Decimal("10000.00000000"),
        "DOGE": Decimal("50000.00000000"),
    }


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator can be told. Ports 0 pick free ones."""

    host: str = "127.0.0.1"
    public_port: int = 0
    private_port: int = 0
    rest_port: int = 0
    allow_remote: bool = False
    seed: int = 1
    rate: float = 50.0
    pairs: tuple[PairSpec, ...] = field(default_factory=lambda: tuple(default_pairs()))
    balances: dict[str, Decimal] = field(default_factory=default_balances)
    earn: dict[str, Decimal] = field(default_factory=default_earn)
    fee_credits: Decimal = Decimal("500.00")  # KFEE in REST Balance, never on the stream
    delisted_trade: bool = True  # REST history holds a trade of a pair AssetPairs lacks
    odd_instrument_pair: bool = False  # the instrument snapshot holds a pair that cannot decode
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    heartbeat: float = 1.0
    idle_timeout: float = 60.0
    token_ttl: float = 900.0
    chaos_per_minute: float = 0.0
    chaos_seed: int = 1
    rest_counter: tuple[float, float] = (20.0, 0.5)  # the key's call counter: max, decay/s

    def check(self) -> None:
        """Raises ConfigError for a setting that cannot work."""
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError as exc:
            raise ConfigError("--host", "must be an IP address such as 127.0.0.1") from exc
        if not address.is_loopback and not self.allow_remote:
            raise ConfigError(
                "--host", f"{self.host} is not loopback; add --allow-remote to serve on it"
            )
        for name, port in (
            ("--public-port", self.public_port),
            ("--private-port", self.private_port),
            ("--rest-port", self.rest_port),
        ):
            if not 0 <= port <= 65535:
                raise ConfigError(name, "must be 0..65535 (0 picks a free port)")
        if not 0 < self.rate <= 100_000:
            raise ConfigError("--rate", "must be above 0 and at most 100000 events/s")
        if self.chaos_per_minute < 0:
            raise ConfigError("--chaos", "must be 0 or more faults a minute")
        maximum, decay = self.rest_counter
        if not (2 <= maximum < 1e9 and 0 < decay < 1e9):  # also refuses nan and inf
            raise ConfigError("--rest-counter", "needs MAX:DECAY with MAX >= 2 and DECAY > 0")
        decode_secret(self.api_secret)


class SimUrls(msgspec.Struct, frozen=True):
    """Where a running simulator serves, and the API key its account answers to."""

    ws_public: str
    ws_private: str
    rest: str
    api_key: str
