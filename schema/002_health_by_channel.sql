-- Messages per second by channel in each health snapshot, as JSON: {"book": 48.2, "trade": 3.1}.
ALTER TABLE health_snapshots ADD COLUMN by_channel TEXT NOT NULL DEFAULT '{}';
