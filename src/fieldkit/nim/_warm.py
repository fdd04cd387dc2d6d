"""``wait_for_warm``: poll a NIM's ``/models`` until it answers, within a deadline."""

from __future__ import annotations

import time

import httpx

from fieldkit.nim._deadline import bounded, transport
from fieldkit.nim._exchange import Deadline

_MAX_REQUEST_TIMEOUT = 10.0


def wait_for_warm(
    base_url: str,
    *,
    timeout: float = 120.0,
    poll_interval: float = 2.0,
    api_key: str = "local",
) -> bool:
    """Poll ``GET {base_url}/models`` until it answers 2xx (→ ``True``) or *timeout* seconds
    pass (→ ``False``). Never raises for HTTP failures; ``timeout <= 0`` → ``False`` at once.

    Returns by *timeout*: every poll, connect to last byte, is bounded by the time left (capped
    at 10 s), so a server that drips its reply or never finishes it cannot hold the call past the
    deadline; a slow-but-healthy endpoint still counts, and no sleep passes the deadline.
    """
    if timeout <= 0:
        return False
    url = base_url.rstrip("/") + "/models"
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(headers=headers, transport=transport()) as client:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            request_timeout = max(min(remaining, _MAX_REQUEST_TIMEOUT), 0.001)
            try:
                with bounded(Deadline(request_timeout, f"wait_for_warm({timeout})")):
                    response = client.get(url, timeout=request_timeout)
                if 200 <= response.status_code < 300:
                    return True
            except httpx.HTTPError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(max(poll_interval, 0.0), remaining))
