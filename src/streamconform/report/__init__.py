"""Writers for what a run produces: wire excerpts, summary.json."""
