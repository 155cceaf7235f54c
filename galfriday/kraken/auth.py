"""Kraken REST request signing and nonces (PROTOCOL.md §4.2).

``API-Sign = base64(HMAC-SHA512(base64decode(secret), uri_path + SHA256(nonce + postdata)))``

Nonces must strictly increase per API key, forever, across restarts. :class:`NonceGenerator`
issues ``max(now in microseconds, last + 1)``; the shell persists :attr:`NonceGenerator.last`
(:func:`load_nonce_floor` / :func:`save_nonce_floor`) before a signed request is sent, so a
restart, even with a clock that went backwards, starts above every nonce already used.

Pure except the two small file helpers, which the shell calls off the trio thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path

from galfriday.errors import ConfigError

__all__ = ["NonceGenerator", "decode_secret", "load_nonce_floor", "save_nonce_floor", "sign"]


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


def load_nonce_floor(path: Path) -> int:
    """The persisted highest nonce, or 0 if there is none yet.

    Raises:
        ConfigError: the file exists but does not hold a single integer.
    """
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return 0
    try:
        return int(text)
    except ValueError as exc:
        raise ConfigError(str(path), "is not a nonce file; delete it or point elsewhere") from exc


def save_nonce_floor(path: Path, nonce: int) -> None:
    """Persist ``nonce`` atomically (write a temporary file, fsync, rename), mode 0600."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, str(nonce).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
