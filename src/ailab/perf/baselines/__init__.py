"""The old approaches, kept runnable so every figure is measured against them in the same run."""
