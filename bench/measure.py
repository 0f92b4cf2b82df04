"""Timing and peak memory of one operation.

Peak RSS is the kernel's high-water mark of this process (VmHWM in /proc/self/status), reset before
each run by writing 5 to /proc/self/clear_refs (Linux >= 4.0). Where that is not permitted the mark
cannot be reset and the figure is the process's peak so far (`peak_reset` says which); every op runs
in its own fresh worker process, so even then it is that op's peak plus the interpreter's baseline.
"""
from __future__ import annotations

import gc
import resource
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

_CLEAR = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_peak(pid: int | None = None) -> bool:
    """Reset the RSS high-water mark of this process (or of `pid`) to its current RSS; False when not
    permitted."""
    try:
        (_CLEAR if pid is None else Path(f"/proc/{pid}/clear_refs")).write_text("5")
        return True
    except OSError:
        return False


def _status_kb(key: str, status: Path = _STATUS) -> int:
    for line in status.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def peak_mb(pid: int | None = None) -> float:
    """Peak RSS (VmHWM) in MiB of this process or of `pid`."""
    status = _STATUS if pid is None else Path(f"/proc/{pid}/status")
    return _status_kb("VmHWM", status) / 1024


def rss_mb(pid: int | None = None) -> float:
    status = _STATUS if pid is None else Path(f"/proc/{pid}/status")
    return _status_kb("VmRSS", status) / 1024


@dataclass
class Timing:
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)      # user + system CPU seconds of each run (all threads)
    peaks: list[float] = field(default_factory=list)   # peak RSS (MiB) of each run
    baseline_mb: float = 0.0                           # RSS before the first run
    first: float | None = None                         # duration of the very first run (warm-up or not)
    peak_reset: bool = True
    result: Any = None                                 # what the last run returned

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None

    @property
    def peak(self) -> float | None:
        return max(self.peaks) if self.peaks else None


def timed(fn: Callable[[], Any], runs: int, *, warmup: int = 0, setup: Callable[[], Any] | None = None,
          teardown: Callable[[Any], None] | None = None) -> Timing:
    """Run `fn` `warmup` + `runs` times (setup/teardown around each run, untimed); keep the timed
    runs' durations and peak RSS. `fn` gets setup's value when setup is given."""
    out = Timing()
    out.baseline_mb = rss_mb()
    for i in range(warmup + runs):
        ctx = setup() if setup else None
        gc.collect()
        out.peak_reset = reset_peak() and out.peak_reset
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        res = fn(ctx) if setup else fn()
        dt = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        peak = peak_mb()
        if out.first is None:
            out.first = dt
        if teardown:
            teardown(ctx)
        if i >= warmup:
            out.times.append(dt)
            out.cpu.append(cpu)
            out.peaks.append(peak)
            out.result = res
        del res
    return out
