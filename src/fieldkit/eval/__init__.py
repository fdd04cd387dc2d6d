"""fieldkit.eval (being built)."""
