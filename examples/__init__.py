"""Example strategies for galfriday (run them with ``galfriday run --strategy examples.NAME:Class``
from the repository's root; see docs/strategies.md)."""
