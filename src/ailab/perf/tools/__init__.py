"""The commands beside the report: A/B between commits, history, compare, load, fuzz, live sync."""
