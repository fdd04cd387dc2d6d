"""fieldkit.rag (being built)."""
