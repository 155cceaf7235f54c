-- P&L per symbol now, by average cost (galfriday/core/pnl.py), from the fills this engine
-- counted since it started: a current-state table, one row per symbol, replaced after every
-- fill that moves it. Quote-currency figures are exact decimal text. Unrealised P&L needs a
-- live mark price (the verified book's mid) and is not stored: the engine's API computes it.
-- The conflict clause makes a plain INSERT replace the symbol's row, as the other
-- current-state tables are written (the store's UPSERT_KEYS).

CREATE TABLE pnl (
    symbol TEXT PRIMARY KEY ON CONFLICT REPLACE,
    position TEXT NOT NULL,             -- base held through the fills counted
    average_cost TEXT,                  -- quote per base of position; NULL when flat
    realised TEXT NOT NULL,             -- sales against the average cost, before fees
    fees TEXT NOT NULL,                 -- in quote (a base-asset fee at its fill's price)
    other_fees TEXT NOT NULL DEFAULT '[]',  -- JSON [[asset, amount], ...], not converted
    untracked TEXT NOT NULL DEFAULT '0',    -- base sold beyond the position: cost unknown
    updated_wall REAL NOT NULL
);

CREATE VIEW v_pnl AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', updated_wall, 'unixepoch') AS updated,
       *
FROM pnl;
