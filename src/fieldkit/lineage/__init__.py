"""fieldkit.lineage (being built)."""
