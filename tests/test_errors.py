from __future__ import annotations

import pytest

from galfriday import errors
from galfriday.errors import (
    AuthenticationError,
    KrakenApiError,
    OrderRejected,
    RateLimitError,
    ServiceUnavailable,
    kraken_error,
)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("EAPI:Invalid key", AuthenticationError),
        ("EAPI:Invalid signature", AuthenticationError),
        ("EAPI:Invalid nonce", AuthenticationError),
        ("EAPI:Invalid token", AuthenticationError),
        ("ESession:Invalid session", AuthenticationError),
        ("EGeneral:Permission denied", AuthenticationError),
        ("EGeneral:Temporary lockout", AuthenticationError),
        ("EAPI:Rate limit exceeded", RateLimitError),
        ("EOrder:Rate limit exceeded", RateLimitError),
        ("EOrder:Domain rate limit exceeded", RateLimitError),
        ("EAuth:Rate limit exceeded", RateLimitError),
        ("EAuth:Too many requests", RateLimitError),
        ("EService:Unavailable", ServiceUnavailable),
        ("EService:Market in cancel_only mode", ServiceUnavailable),
        ("EService:Market in post_only mode", ServiceUnavailable),
        ("EService:Deadline elapsed", ServiceUnavailable),
        ("EService:Throttled: 1700000000", ServiceUnavailable),
        ("EGeneral:Internal error:123", ServiceUnavailable),
        ("EOrder:Insufficient funds", OrderRejected),
        ("EOrder:Order minimum not met", OrderRejected),
        ("EOrder:Cost minimum not met", OrderRejected),
        ("EOrder:Tick size check failed", OrderRejected),
        ("EOrder:Orders limit exceeded", OrderRejected),
        ("EOrder:Invalid price", OrderRejected),
        ("EOrder:Invalid order", OrderRejected),
        ("EGeneral:Invalid arguments:ordertype", KrakenApiError),
        ("EQuery:Unknown asset pair", KrakenApiError),
        ("Currency pair not supported XBT/USD", KrakenApiError),
    ],
)
def test_every_protocol_error_string_maps_to_a_class(code: str, cls: type) -> None:
    exc = kraken_error(code)
    assert type(exc) is cls and exc.code == code


def test_category_drops_the_severity_letter() -> None:
    assert kraken_error("EOrder:Insufficient funds").category == "Order"


def test_every_exported_name_exists_and_errors_share_one_root() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.GalfridayError)
