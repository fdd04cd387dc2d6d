"""Package data of fieldkit.rag: the bundled benchmark corpus (``corpus.json``)."""
