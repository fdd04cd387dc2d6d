"""fieldkit.capabilities (being built)."""
