"""The strategies the README and docs/strategies.md show run as written against the simulator:
a newcomer who copies them gets a working strategy."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
import trio

import galfriday
from galfriday.strategy import StrategyRunner

ROOT = Path(__file__).parents[2]


def _strategy_from(doc: str, name: str) -> type:
    """The python block of ``doc`` that defines class ``name``, executed as a module."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(), flags=re.DOTALL)
    [source] = [textwrap.dedent(block) for block in blocks if f"class {name}(" in block]
    module = ModuleType(f"doc_{name.lower()}")
    exec(compile(source, f"{doc}:{name}", "exec"), module.__dict__)
    strategy: type = module.__dict__[name]
    return strategy


@pytest.mark.parametrize(
    ("doc", "name"), [("README.md", "Buyer"), ("docs/strategies.md", "Dipper")]
)
async def test_the_documented_strategy_places_its_order(
    tmp_path: Path, doc: str, name: str
) -> None:
    settings = galfriday.load_config(database=tmp_path / "g.db", capture=False, seed=5)
    async with galfriday.open_engine(settings) as engine, trio.open_nursery() as nursery:
        runner = StrategyRunner(engine, _strategy_from(doc, name), {})
        await nursery.start(runner.run)
        with trio.fail_after(15):
            async with engine.subscribe(galfriday.OrderUpdate) as updates:
                while not engine.placed():
                    await updates.receive()
        [order] = engine.placed()
        assert (order.symbol, order.side) == ("BTC/USD", "buy")
        await runner.stop()
        assert runner.failure is None and engine.placed() == []
