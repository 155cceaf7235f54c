-- Views for people (Datasette, sqlite-utils, any SQLite client): each table with its epoch
-- seconds also as ISO 8601 UTC text with milliseconds, e.g. 2027-01-15T08:00:00.250Z, in
-- front of the table's own columns (SELECT *: a column added later shows up here too).
-- v_reconciliations is reconciliation_events; every other view is v_ and its table's name.

CREATE VIEW v_connection_events AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM connection_events;

CREATE VIEW v_health_snapshots AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM health_snapshots;

CREATE VIEW v_book_checks AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM book_checks;

CREATE VIEW v_gaps AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM gaps;

CREATE VIEW v_resyncs AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM resyncs;

CREATE VIEW v_decode_errors AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM decode_errors;

CREATE VIEW v_rest_calls AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM rest_calls;

CREATE VIEW v_orders AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', updated_wall, 'unixepoch') AS updated,
       *
FROM orders;

CREATE VIEW v_order_events AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM order_events;

CREATE VIEW v_order_anomalies AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM order_anomalies;

CREATE VIEW v_fills AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM fills;

CREATE VIEW v_balances AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', updated_wall, 'unixepoch') AS updated,
       *
FROM balances;

CREATE VIEW v_balance_ledger AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM balance_ledger;

CREATE VIEW v_balance_anomalies AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM balance_anomalies;

CREATE VIEW v_positions AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', updated_wall, 'unixepoch') AS updated,
       *
FROM positions;

CREATE VIEW v_reconciliations AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM reconciliation_events;

CREATE VIEW v_discrepancies AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM discrepancies;

CREATE VIEW v_position_adjustments AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM position_adjustments;

CREATE VIEW v_review_queue AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', created_wall, 'unixepoch') AS created,
       strftime('%Y-%m-%dT%H:%M:%fZ', resolved_wall, 'unixepoch') AS resolved,
       strftime('%Y-%m-%dT%H:%M:%fZ', applied_wall, 'unixepoch') AS applied,
       *
FROM review_queue;

CREATE VIEW v_alerts AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at_wall, 'unixepoch') AS at,
       *
FROM alerts;
