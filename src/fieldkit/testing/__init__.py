"""fieldkit.testing (being built)."""
