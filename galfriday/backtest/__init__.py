"""``galfriday backtest``: a strategy over captured market data, with paper fills, on
virtual time; deterministic (two runs, identical databases).

- :mod:`galfriday.backtest.run`: :func:`run_backtest` and its report.
- :mod:`galfriday.backtest.command`: the subcommand's arguments, the command, the report's
  words.
"""
