-- Balance moves the private stream does not explain: a ledger update whose total is not the
-- previous balance plus its amount, or a later snapshot that differs from what it replaces.
-- The exchange's figure is taken either way; this is the trail of what moved unannounced.

CREATE TABLE balance_anomalies (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    asset TEXT NOT NULL,
    source TEXT NOT NULL,               -- ledger | snapshot
    ledger_id TEXT,                     -- the entry that revealed it (ledger source)
    unexplained TEXT NOT NULL,          -- the new balance minus the explained one
    balance TEXT NOT NULL               -- the exchange's balance, now ours
);
CREATE INDEX balance_anomalies_at ON balance_anomalies (at_wall);
