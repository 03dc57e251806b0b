"""From measurements to verdicts: claims, scorecard, tables, charts, HTML and the report run."""
