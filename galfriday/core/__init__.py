"""The sans-IO core: sequencing, deduplication and order state. No trio, no clock, no I/O."""
