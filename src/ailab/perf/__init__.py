"""Measurement: the timing harness, the old approaches as baselines, the target table, the report."""
