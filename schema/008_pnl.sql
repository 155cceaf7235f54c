-- P&L per symbol by average cost (galfriday/core/pnl.py), from the fills this engine counted
-- since it started: a current-state table, one row per symbol, replaced after every fill
-- that moves it. Quote-currency figures are exact decimal text. The position is signed:
-- base bought minus sold through those fills (negative: more sold than bought, from what the
-- account held before). mark and unrealised are as they stood at that fill (the verified
-- book's mid, or the last public trade); the engine's API gives them live.
-- The conflict clause makes a plain INSERT replace the symbol's row, as the other
-- current-state tables are written (the store's UPSERT_KEYS).

CREATE TABLE pnl (
    symbol TEXT PRIMARY KEY ON CONFLICT REPLACE,
    position TEXT NOT NULL,             -- base bought minus sold (negative: sold more)
    average_cost TEXT,                  -- quote per base of position; NULL when flat
    realised TEXT NOT NULL,             -- closes against the average cost, before fees
    fees TEXT NOT NULL,                 -- in quote (a base-asset fee at its fill's price)
    other_fees TEXT NOT NULL DEFAULT '[]',  -- JSON [[asset, amount], ...], not converted
    mark TEXT,                          -- the price unrealised was taken at; NULL: none
    unrealised TEXT,                    -- position * mark - cost, at the last fill
    updated_wall REAL NOT NULL
);

CREATE VIEW v_pnl AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', updated_wall, 'unixepoch') AS updated,
       *
FROM pnl;
