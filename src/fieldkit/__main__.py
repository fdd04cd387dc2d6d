"""``python -m fieldkit`` runs the command line."""

from fieldkit.cli import main

main()
