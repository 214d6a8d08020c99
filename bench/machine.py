"""What the machine was doing during a benchmark run: CPU, load average, and how many cores
*other* processes used meanwhile (timings on a busy machine mean little)."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

# Other processes using this many cores on average make a run "busy" (its timings are then
# doubtful: the parallel column competes for the cores it measures).
BUSY_CORES = 0.25


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> Optional[Tuple[float, float, float]]:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):        # not on Windows
        return None


def _busy_seconds() -> Optional[float]:
    """CPU seconds all processes spent not idle since boot (Linux /proc/stat), else None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)      # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class LoadMonitor:
    """Measures, between :meth:`start` and :meth:`stop`, the average number of cores used by
    processes other than this one (from /proc/stat minus this process's CPU time)."""

    def start(self) -> Dict[str, object]:
        self.t0 = time.perf_counter()
        self.busy0 = _busy_seconds()
        self.own0 = _own_seconds()
        self.before = loadavg()
        return {"loadavg": self.before}

    def stop(self) -> Dict[str, object]:
        wall = time.perf_counter() - self.t0
        busy1 = _busy_seconds()
        other = None
        if self.busy0 is not None and busy1 is not None and wall > 0:
            other = max(0.0, ((busy1 - self.busy0) - (_own_seconds() - self.own0)) / wall)
        after = loadavg()
        busy = (other is not None and other > BUSY_CORES) or \
            (self.before is not None and self.before[0] > 2 * BUSY_CORES + 0.5 and other is None)
        return {"loadavg_before": self.before, "loadavg_after": after,
                "other_cores": other, "seconds": wall, "busy": busy}


def describe(load: Dict[str, object]) -> str:
    """One line for the report; a warning when the machine was busy."""
    b, a, other = load["loadavg_before"], load["loadavg_after"], load["other_cores"]
    fmt = (lambda t: "n/a" if t is None else "/".join(f"{x:.2f}" for x in t))
    line = f"load average before {fmt(b)}, after {fmt(a)}"
    if other is not None:
        line += f"; other processes used {other:.2f} cores on average during the run"
    if load["busy"]:
        line += ("\nWARNING: the machine was busy during this run; its timings (the parallel "
                 "column above all) mean little. Rerun on a quiet machine.")
    return line
