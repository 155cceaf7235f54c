"""The simulated account's ids: Kraken's shape, never repeated by another run."""

from __future__ import annotations

import random
import re

from galfriday.sim.account import Account

KRAKEN_ID = re.compile(r"[OTLR][A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}")


def test_two_runs_with_the_same_seed_never_share_an_id() -> None:
    first, second = Account({}, random.Random(1)), Account({}, random.Random(1))
    ids = [[account.new_id(kind) for kind in "OTLR" * 50] for account in (first, second)]
    assert not set(ids[0]) & set(ids[1])
    assert all(KRAKEN_ID.fullmatch(i) for i in ids[0] + ids[1])


def test_a_given_run_tag_and_seed_give_the_same_ids() -> None:
    first, second = (Account({}, random.Random(3), run_tag="ABCDE") for _ in range(2))
    assert [first.new_id("O") for _ in range(5)] == [second.new_id("O") for _ in range(5)]
    assert first.new_id("T").startswith("TABCDE-")
