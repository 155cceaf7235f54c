"""Kraken REST request signing and nonces (Kraken's "Authentication" REST guide).

``API-Sign = base64(HMAC-SHA512(base64decode(secret), uri_path + SHA256(nonce + postdata)))``

Nonces must strictly increase per API key, forever, across restarts. :class:`NonceGenerator`
issues ``max(now in microseconds, last + 1)``; the shell persists :attr:`NonceGenerator.last`
(:func:`load_key_state` / :func:`save_key_state`) before a signed request is sent, so a
restart, even with a clock that went backwards, starts above every nonce already used. The same
file keeps the REST client's estimate of Kraken's call counter as of that nonce (Kraken's
counter outlives the process; a crash loop that forgot it would be refused).

Pure except the two small file helpers, which the shell calls off the trio thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from galfriday.errors import ConfigError

__all__ = [
    "KeyState",
    "NonceGenerator",
    "decode_secret",
    "load_key_state",
    "save_key_state",
    "sign",
]


def decode_secret(secret_b64: str) -> bytes:
    """The raw bytes of a base64 API secret.

    Raises:
        ConfigError: the secret is not valid base64 (the message never contains the secret).
    """
    try:
        return base64.b64decode(secret_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            "api secret", "is not valid base64; paste it exactly as Kraken shows it"
        ) from exc


def sign(uri_path: str, nonce: int | str, postdata: str | bytes, secret: bytes) -> str:
    """The ``API-Sign`` header for one private REST call.

    Args:
        uri_path: e.g. ``/0/private/AddOrder``.
        nonce: the nonce that is also inside ``postdata``.
        postdata: the exact body bytes that will be sent.
        secret: the decoded secret (:func:`decode_secret`).
    """
    body = postdata.encode() if isinstance(postdata, str) else postdata
    digest = hashlib.sha256(str(nonce).encode() + body).digest()
    mac = hmac.new(secret, uri_path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


class NonceGenerator:
    """Strictly increasing nonces on one scale (microseconds since the epoch).

    Args:
        floor: the highest nonce ever used with this key (0 for none).
    """

    def __init__(self, floor: int = 0) -> None:
        self.last = floor

    def next(self, now_ns: int) -> int:
        """The next nonce, given the wall clock in nanoseconds (``time.time_ns()``)."""
        self.last = max(now_ns // 1000, self.last + 1)
        return self.last


@dataclass(frozen=True)
class KeyState:
    """What a restart must know of its API key: the highest nonce used, and the estimated
    call counter just after that nonce's call (its wall time is the nonce, in µs)."""

    nonce: int = 0
    counter: float = 0.0


def load_key_state(path: Path) -> KeyState:
    """The persisted key state (``NONCE`` or ``NONCE COUNTER``), or zeros if there is none yet.

    Raises:
        ConfigError: the file exists but does not hold that.
    """
    try:
        fields = path.read_text().split()
    except FileNotFoundError:
        return KeyState()
    try:
        if len(fields) == 1:  # written before the counter was kept
            return KeyState(int(fields[0]))
        nonce, counter = int(fields[0]), float(fields[1])
        if len(fields) != 2 or not 0.0 <= counter < 1e6:  # also refuses nan and inf
            raise ValueError(path)
        return KeyState(nonce, counter)
    except (ValueError, IndexError) as exc:
        raise ConfigError(str(path), "is not a nonce file; delete it or point elsewhere") from exc


def save_key_state(path: Path, state: KeyState) -> None:
    """Persist ``state`` atomically (write a temporary file, fsync, rename), mode 0600.

    The temporary file's name is unique to this process and call (pid and a random suffix),
    so two writers never write into, or rename away, each other's file.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, f"{state.nonce} {state.counter:.3f}".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
