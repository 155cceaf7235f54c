"""Reconciliation: galfriday's view of the account against the exchange's."""
