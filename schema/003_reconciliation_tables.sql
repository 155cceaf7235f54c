-- Reconciliation: runs, what they found, what they corrected, and what waits for a person.
-- reconciliation_id is the run's own id (a short text id written by the service).

CREATE TABLE reconciliation_events (
    id TEXT PRIMARY KEY,
    at_wall REAL NOT NULL,
    type TEXT NOT NULL,                 -- startup | scheduled | reconnect | gap | manual
    status TEXT NOT NULL,               -- clean | discrepancies | failed
    discrepancies INTEGER NOT NULL DEFAULT 0,
    auto_corrected INTEGER NOT NULL DEFAULT 0,
    manual_review INTEGER NOT NULL DEFAULT 0,
    explained INTEGER NOT NULL DEFAULT 0,
    rest_calls INTEGER NOT NULL DEFAULT 0,
    duration_ms REAL NOT NULL DEFAULT 0,
    error TEXT,
    report TEXT NOT NULL DEFAULT '{}'   -- the full report as JSON
);
CREATE INDEX reconciliation_events_at ON reconciliation_events (at_wall);
CREATE INDEX reconciliation_events_status ON reconciliation_events (status);

CREATE TABLE position_adjustments (
    id INTEGER PRIMARY KEY,
    reconciliation_id TEXT NOT NULL,
    subject TEXT NOT NULL,              -- a pair (position) or an asset (balance)
    adjustment_type TEXT NOT NULL,      -- position | balance | explained | review
    old_value TEXT NOT NULL,
    new_value TEXT NOT NULL,
    reason TEXT NOT NULL,
    at_wall REAL NOT NULL
);
CREATE INDEX position_adjustments_run ON position_adjustments (reconciliation_id);
CREATE INDEX position_adjustments_subject ON position_adjustments (subject, at_wall);
CREATE INDEX position_adjustments_at ON position_adjustments (at_wall);

CREATE TABLE discrepancies (
    id INTEGER PRIMARY KEY,
    reconciliation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    severity TEXT NOT NULL,
    internal TEXT,
    exchange TEXT,
    detail TEXT NOT NULL DEFAULT '',
    at_wall REAL NOT NULL
);
CREATE INDEX discrepancies_run ON discrepancies (reconciliation_id);
CREATE INDEX discrepancies_severity ON discrepancies (severity, at_wall);

CREATE TABLE review_queue (
    id TEXT PRIMARY KEY,
    reconciliation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    severity TEXT NOT NULL,
    internal TEXT,
    exchange TEXT,
    created_wall REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',  -- open | resolved | applied
    decision TEXT,                        -- accept-exchange | keep-internal
    note TEXT,
    resolved_wall REAL,
    applied_wall REAL
);
CREATE INDEX review_queue_status ON review_queue (status, created_wall);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    at_wall REAL NOT NULL,
    severity TEXT NOT NULL,
    source TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX alerts_at ON alerts (at_wall);
