"""``ThermalProbe``: GPU temperature and SM clock from ``nvidia-smi``, sampled or polled."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fieldkit._managed import StartStop
from fieldkit.quant._errors import ThermalUnavailable
from fieldkit.quant._parse import parse_nvidia_smi_csv
from fieldkit.quant._run import tail

__all__ = ["ThermalProbe", "ThermalReading", "parse_nvidia_smi_csv_lenient"]

QUERY = ["--query-gpu=temperature.gpu,clocks.current.sm", "--format=csv,noheader,nounits"]
_QUERY_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ThermalReading:
    """One sample: seconds since the probe's first sample, °C, SM MHz, and whether
    ``temperature_c >= throttle_temp_c``."""

    t_seconds: float
    temperature_c: float
    sm_clock_mhz: float
    is_throttled: bool


def parse_nvidia_smi_csv_lenient(text: str) -> tuple[float, float]:
    """Like :func:`parse_nvidia_smi_csv` with unreadable fields as ``0.0``."""
    temp, clock = parse_nvidia_smi_csv(text)
    return (temp if temp is not None else 0.0, clock if clock is not None else 0.0)


class ThermalProbe(StartStop):
    """Samples ``nvidia-smi`` on demand (:meth:`sample`) or every ``interval_s`` seconds in a
    background thread (:meth:`start`/:meth:`stop`, or ``with probe:``).

    Where ``nvidia-smi`` is absent or cannot report a temperature, :meth:`sample` raises
    :class:`ThermalUnavailable` and :meth:`try_sample` returns ``None`` with the reason in
    :attr:`unavailable_reason`; nothing else fails.
    """

    def __init__(
        self,
        *,
        interval_s: float = 10.0,
        throttle_temp_c: float = 87.0,
        nvidia_smi: str | Path | None = None,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self.interval_s = interval_s
        self.throttle_temp_c = throttle_temp_c
        self._exe = str(nvidia_smi) if nvidia_smi else (shutil.which("nvidia-smi") or "nvidia-smi")
        self._readings: list[ThermalReading] = []
        self._t0: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.unavailable_reason: str | None = None

    @property
    def readings(self) -> tuple[ThermalReading, ...]:
        """Every reading so far, oldest first (a copy)."""
        with self._lock:
            return tuple(self._readings)

    def _query(self) -> tuple[float, float]:
        try:
            proc = subprocess.run(
                [self._exe, *QUERY],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=_QUERY_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError:
            raise ThermalUnavailable(
                f"nvidia-smi not available: {self._exe!r} not found (no NVIDIA driver on this "
                "machine, or pass nvidia_smi=PATH)"
            ) from None
        except subprocess.TimeoutExpired:
            raise ThermalUnavailable(
                f"nvidia-smi not available: {self._exe!r} gave no answer in {_QUERY_TIMEOUT_S:g} s"
            ) from None
        except OSError as exc:
            raise ThermalUnavailable(
                f"nvidia-smi not available: cannot run {self._exe!r}: {exc.strerror or exc}"
            ) from None
        temp, clock = parse_nvidia_smi_csv(proc.stdout)
        if proc.returncode != 0 or temp is None:
            why = tail(proc.stderr, 3) or tail(proc.stdout, 3) or "no output"
            raise ThermalUnavailable(
                f"nvidia-smi not available: the temperature query failed (exit "
                f"{proc.returncode}): {why}"
            )
        return temp, clock if clock is not None else 0.0

    def sample(self) -> ThermalReading:
        """Query once and record the reading (``t_seconds`` counts from the first sample).

        An SM clock the driver cannot report (``[N/A]``) reads ``0.0``; an unreadable
        temperature raises :class:`ThermalUnavailable`.
        """
        now = time.monotonic()
        with self._lock:
            if self._t0 is None:
                self._t0 = now
            t0 = self._t0
        temp, clock = self._query()
        reading = ThermalReading(
            t_seconds=time.monotonic() - t0,
            temperature_c=temp,
            sm_clock_mhz=clock,
            is_throttled=temp >= self.throttle_temp_c,
        )
        with self._lock:
            self._readings.append(reading)
        return reading

    def try_sample(self) -> ThermalReading | None:
        """:meth:`sample`, or ``None`` with :attr:`unavailable_reason` set when unavailable."""
        try:
            reading = self.sample()
        except ThermalUnavailable as exc:
            self.unavailable_reason = str(exc)
            return None
        self.unavailable_reason = None
        return reading

    def available(self) -> bool:
        """Whether a sample can be taken now (takes and records one)."""
        return self.try_sample() is not None

    def sustained_load_minutes(self) -> float | None:
        """Minutes to the first throttled reading, else to the last reading; ``None`` if none."""
        readings = self.readings
        if not readings:
            return None
        for r in readings:
            if r.is_throttled:
                return r.t_seconds / 60.0
        return readings[-1].t_seconds / 60.0

    # --- background polling -------------------------------------------------------------------

    def _poll(self) -> None:
        while not self._stop.is_set():
            if self.try_sample() is None:
                return  # unavailable: stop polling, the reason is kept
            self._stop.wait(self.interval_s)

    def start(self) -> ThermalProbe:
        """Sample every ``interval_s`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="fieldkit-thermal", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = _QUERY_TIMEOUT_S + 5.0) -> None:
        """Stop polling and wait (at most *timeout_s*) for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
