"""A strategy package outside galfriday, as a user writes one (tests import it from here)."""
