"""The benchmarks: each registers the report rows it measures."""
