"""fieldkit: glue for LLM experiments on one local GPU box.

``__version__`` is this package's own release (semantic versioning); ``API_LEVEL`` is the
published fieldkit API it implements (same import paths, names, signatures, return shapes).
"""

__version__ = "1.0.0"
API_LEVEL = "0.4"

__all__ = ["API_LEVEL", "__version__"]
