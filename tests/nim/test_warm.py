"""wait_for_warm against the simulator: immediate, never, and after a cold start."""

from __future__ import annotations

from collections.abc import Callable

from fieldkit.nim import wait_for_warm
from fieldkit.testing import NIMSimulator


def test_warm_immediately(simulator: NIMSimulator) -> None:
    assert wait_for_warm(simulator.base_url + "/", timeout=1.0, poll_interval=0.05) is True
    (req,) = simulator.requests
    assert req.path == "/v1/models" and req.headers["authorization"] == "Bearer local"


def test_never_warm(simulator: NIMSimulator) -> None:
    simulator.enqueue(*[503] * 100)
    assert wait_for_warm(simulator.base_url, timeout=1.0, poll_interval=0.05) is False
    assert len(simulator.requests) >= 1


def test_warm_after_two_failures(simulator: NIMSimulator) -> None:
    simulator.enqueue(503, 503)
    assert wait_for_warm(simulator.base_url, timeout=2.0, poll_interval=0.05, api_key="k") is True
    assert len(simulator.requests) == 3
    assert simulator.requests[0].headers["authorization"] == "Bearer k"


def test_zero_timeout_makes_no_request(simulator: NIMSimulator) -> None:
    assert wait_for_warm(simulator.base_url, timeout=0) is False
    assert simulator.requests == []


def test_cold_start(simulator_factory: Callable[..., NIMSimulator]) -> None:
    sim = simulator_factory(cold_start_s=0.3)
    assert wait_for_warm(sim.base_url, timeout=5.0, poll_interval=0.05) is True
    assert sim.requests[0].path == "/v1/models"
    assert len(sim.requests) >= 2


def test_slow_but_healthy_endpoint_counts(simulator: NIMSimulator) -> None:
    # 0.3.0 used poll_interval as the request timeout, so this never counted as warm.
    simulator.latency_s = 0.2
    assert wait_for_warm(simulator.base_url, timeout=3.0, poll_interval=0.05) is True


def test_refused_connection_is_not_an_error(dead_url: str) -> None:
    assert wait_for_warm(dead_url, timeout=0.2, poll_interval=0.05) is False
