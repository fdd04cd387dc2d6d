"""fieldkit.nim (being built)."""
