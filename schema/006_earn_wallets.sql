-- What each asset holds in earn wallets (staking, auto-earn), beside the spot balance that
-- the balance column keeps (the tradable part, which positions and reconciliation use).
ALTER TABLE balances ADD COLUMN earn TEXT NOT NULL DEFAULT '0';
