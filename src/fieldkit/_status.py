"""Status lines from library code: INFO records the CLI shows at its default verbosity.

``log.info("starting ...", extra=STATUS)`` marks a line someone waiting should see (a long step
starting); unmarked INFO lines are details shown with ``fieldkit -v``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["STATUS", "STATUS_KEY"]

STATUS_KEY: Final = "fieldkit_status"
#: Pass as ``extra=`` to a ``logging`` call to mark the line as a status line.
STATUS: Final = {STATUS_KEY: True}
