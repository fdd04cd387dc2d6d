"""fieldkit.training (being built)."""
