-- galfriday audit trail, part 1: connections, integrity, REST, orders, fills, balances.
-- Append-only event tables, plus current-state tables (orders, balances, positions) that are
-- upserted from the same events. Money and quantities are TEXT holding exact decimals.
-- Times: at_wall is UTC epoch seconds (REAL) when galfriday recorded the row.

CREATE TABLE connection_events (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    connection TEXT NOT NULL,
    old_state TEXT NOT NULL,
    new_state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX connection_events_at ON connection_events (at_wall);

CREATE TABLE health_snapshots (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    connection TEXT NOT NULL,
    state TEXT NOT NULL,
    messages_per_s REAL NOT NULL,
    reconnects INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    overruns INTEGER NOT NULL,
    last_message_age REAL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX health_snapshots_at ON health_snapshots (at_wall);

CREATE TABLE gaps (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    stream TEXT NOT NULL,
    first_missing INTEGER NOT NULL,
    last_missing INTEGER NOT NULL
);

CREATE TABLE resyncs (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    stream TEXT NOT NULL,
    symbol TEXT,
    reason TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE book_checks (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    symbol TEXT NOT NULL,
    verified INTEGER NOT NULL,
    mismatched INTEGER NOT NULL,
    unverified INTEGER NOT NULL
);
CREATE INDEX book_checks_symbol ON book_checks (symbol, at_wall);

CREATE TABLE decode_errors (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    connection TEXT NOT NULL,
    path TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL
);

CREATE TABLE rest_calls (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    method TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    outcome TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    waited_ms REAL NOT NULL DEFAULT 0
);
CREATE INDEX rest_calls_method ON rest_calls (method, at_wall);

CREATE TABLE order_events (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    order_id TEXT NOT NULL,
    exec_type TEXT NOT NULL,
    status TEXT NOT NULL,
    previous_status TEXT,
    cum_qty TEXT NOT NULL,
    avg_price TEXT
);
CREATE INDEX order_events_order ON order_events (order_id, at_wall);

CREATE TABLE order_anomalies (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    kind TEXT NOT NULL,
    order_id TEXT,
    detail TEXT NOT NULL
);

CREATE TABLE fills (
    exec_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    symbol TEXT,
    side TEXT,
    qty TEXT NOT NULL,
    price TEXT NOT NULL,
    cost TEXT,
    fees TEXT NOT NULL,
    liquidity TEXT,
    trade_id INTEGER,
    at_exchange TEXT,
    at_wall REAL NOT NULL
);
CREATE INDEX fills_order ON fills (order_id);

CREATE TABLE balance_ledger (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    ledger_id TEXT UNIQUE,
    ref_id TEXT,
    asset TEXT NOT NULL,
    ledger_type TEXT,
    amount TEXT,
    fee TEXT,
    balance TEXT NOT NULL
);
CREATE INDEX balance_ledger_asset ON balance_ledger (asset, at_wall);

CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    symbol TEXT,
    side TEXT,
    order_type TEXT,
    order_qty TEXT,
    limit_price TEXT,
    status TEXT NOT NULL,
    cum_qty TEXT NOT NULL,
    cum_cost TEXT NOT NULL,
    avg_price TEXT,
    cl_ord_id TEXT,
    order_userref INTEGER,
    updated_wall REAL NOT NULL
);
CREATE INDEX orders_status ON orders (status);

CREATE TABLE balances (
    asset TEXT PRIMARY KEY,
    balance TEXT NOT NULL,
    updated_wall REAL NOT NULL
);

CREATE TABLE positions (
    symbol TEXT PRIMARY KEY,
    base_asset TEXT NOT NULL,
    quantity TEXT NOT NULL,
    updated_wall REAL NOT NULL
);
