"""Paper trading and backtests: one strategy, simulated fills, no keys.

- :mod:`galfriday.paper.venue`: the pure paper venue (orders matched against the observed book
  and trades; Kraken's private-stream messages out).
- :mod:`galfriday.paper.engine`: the live engine with the paper venue in place of the private
  connection and the order gateway (``galfriday run --paper``).
- :mod:`galfriday.backtest` (its own package): captures fed through the same engine on virtual time
  (``galfriday backtest``).

See docs/paper.md.
"""
