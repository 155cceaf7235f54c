"""The SQLite audit trail: every decision galfriday makes, kept for the user to query."""
