"""ThermalProbe against stand-in ``nvidia-smi`` executables on PATH printing real CSV output."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fieldkit.quant import ThermalProbe, ThermalReading, ThermalUnavailable

QUERY = "--query-gpu=temperature.gpu,clocks.current.sm --format=csv,noheader,nounits"
# What the driver prints when it is installed but cannot reach the GPU (exit status 9).
DRIVER_DOWN = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)


@pytest.fixture
def smi_on_path(
    make_exe: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Path]:
    """Install ``nvidia-smi`` with *body* first on PATH; it logs its arguments to ``args.log``."""

    def install(body: str) -> Path:
        exe = make_exe("nvidia-smi", f'echo "$@" >> "$(dirname "$0")/args.log"\n{body}')
        monkeypatch.setenv("PATH", f"{exe.parent}:/usr/bin:/bin")
        return exe

    return install


def test_sample_single_gpu(smi_on_path: Callable[[str], Path]) -> None:
    exe = smi_on_path("printf '41, 1980\\n'")
    probe = ThermalProbe()
    reading = probe.sample()
    assert (reading.temperature_c, reading.sm_clock_mhz, reading.is_throttled) == (41, 1980, False)
    assert reading.t_seconds == pytest.approx(0.0, abs=5.0)
    assert (exe.parent / "args.log").read_text().strip() == QUERY
    assert probe.readings == (reading,)


def test_first_gpu_of_several_and_inclusive_threshold(smi_on_path: Callable[[str], Path]) -> None:
    smi_on_path("printf '87, 1755\\n35, 1980\\n'")
    reading = ThermalProbe(throttle_temp_c=87.0).sample()
    assert reading.temperature_c == 87.0 and reading.is_throttled


def test_clock_not_reported_reads_zero(smi_on_path: Callable[[str], Path]) -> None:
    """Unified-memory parts may answer ``[N/A]`` for the SM clock: temperature still counts."""
    smi_on_path("printf '47, [N/A]\\n'")
    reading = ThermalProbe().sample()
    assert (reading.temperature_c, reading.sm_clock_mhz) == (47.0, 0.0)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("printf '[N/A], [N/A]\\n'", "temperature query failed"),
        (f'echo "{DRIVER_DOWN}"; exit 9', "couldn't communicate"),
        ("exit 0", "no output"),
    ],
)
def test_unusable_answers_are_unavailable_not_zero(
    smi_on_path: Callable[[str], Path], body: str, reason: str
) -> None:
    smi_on_path(body)
    probe = ThermalProbe()
    with pytest.raises(ThermalUnavailable, match=reason):
        probe.sample()
    assert probe.try_sample() is None
    assert probe.unavailable_reason is not None and reason in probe.unavailable_reason
    assert probe.readings == ()


def test_absent_nvidia_smi_is_a_clear_result(clean_env: Path) -> None:
    probe = ThermalProbe()
    assert probe.try_sample() is None
    assert probe.available() is False
    assert probe.unavailable_reason is not None
    assert probe.unavailable_reason.startswith("nvidia-smi not available")
    with pytest.raises(FileNotFoundError):  # ThermalUnavailable is one
        probe.sample()
    assert probe.sustained_load_minutes() is None


def test_explicit_executable(make_exe: Callable[[str, str], Path], clean_env: Path) -> None:
    exe = make_exe("my-smi", "printf '60, 2100\\n'")
    assert ThermalProbe(nvidia_smi=exe).sample().sm_clock_mhz == 2100.0


def test_hung_nvidia_smi_is_cut_off(
    make_exe: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import fieldkit.quant._thermal as thermal

    monkeypatch.setattr(thermal, "_QUERY_TIMEOUT_S", 0.5)
    exe = make_exe("slow-smi", "exec sleep 30")
    with pytest.raises(ThermalUnavailable, match="no answer"):
        ThermalProbe(nvidia_smi=exe).sample()


def test_reading_is_frozen() -> None:
    r = ThermalReading(1.0, 50.0, 1500.0, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.temperature_c = 10.0  # type: ignore[misc]


def test_sustained_minutes_pinned() -> None:
    probe = ThermalProbe()
    assert probe.sustained_load_minutes() is None
    probe._readings.extend(
        [
            ThermalReading(60.0, 80.0, 1900.0, False),
            ThermalReading(120.0, 85.0, 1900.0, False),
            ThermalReading(300.0, 88.0, 1700.0, True),
        ]
    )
    assert probe.sustained_load_minutes() == pytest.approx(5.0)
    calm = ThermalProbe()
    calm._readings.extend(
        [ThermalReading(60.0, 70.0, 1900.0, False), ThermalReading(600.0, 71.0, 1900.0, False)]
    )
    assert calm.sustained_load_minutes() == pytest.approx(10.0)


def test_background_polling(smi_on_path: Callable[[str], Path]) -> None:
    """A stand-in that heats up by 10 °C per call: polling records readings until it throttles."""
    smi_on_path(
        'f="$(dirname "$0")/n"; n=$(cat "$f" 2>/dev/null || echo 0); echo $((n+1)) > "$f"\n'
        "printf '%d, 1980\\n' $((60 + n * 10))"
    )
    probe = ThermalProbe(interval_s=0.05, throttle_temp_c=87.0)
    with probe:
        deadline = time.monotonic() + 60
        while len(probe.readings) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    temps = [r.temperature_c for r in probe.readings]
    assert temps[:4] == [60.0, 70.0, 80.0, 90.0]
    assert [r.is_throttled for r in probe.readings][:4] == [False, False, False, True]
    ts = [r.t_seconds for r in probe.readings]
    assert ts == sorted(ts)
    minutes = probe.sustained_load_minutes()
    assert minutes is not None and minutes == pytest.approx(probe.readings[3].t_seconds / 60)


def test_polling_stops_when_unavailable(clean_env: Path) -> None:
    probe = ThermalProbe(interval_s=0.05).start()
    probe.stop()
    assert probe.readings == ()
    assert probe.unavailable_reason is not None


def test_bad_interval() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        ThermalProbe(interval_s=0)
