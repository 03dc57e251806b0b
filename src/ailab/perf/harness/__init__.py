"""The measuring harness: timing, the registry of benchmarks, the target table."""
