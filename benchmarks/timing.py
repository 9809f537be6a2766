"""Interleaved timing: every case of a group runs once per round, rounds rotate the order.

The machine is shared and noisy, so no case gets a quiet or a busy stretch to itself:
each round runs every case of the group once, right after a run of its baseline (the
OpenVINO-alone limit), the starting case moves by one each round, and the result is the
median over rounds. With every timing two measures of
how busy the machine was are recorded: the 1-minute load average, and the share of
all CPUs that processes outside this benchmark (and the hypervisor) took while the
timing ran, read from ``/proc/stat`` minus this process tree's own CPU time.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Case:
    """One contender on one model: a timed pass over all rows, and how to warm it up.

    Attributes
    ----------
    model, precision, contender, scheduler, variant : str
        What runs (``variant`` names a non-default setting, "" for the default).
    rows : int
        Rows scored by one pass.
    run : callable
        One full pass; its wall time is the measurement.
    warm : callable
        Untimed: compiles, loads sessions, imports (on a small slice where it can).
    baseline : str
        The key of the case this one's ratio is taken against (the limit); "" for itself.
    after : callable, optional
        Called after each timed pass; what it returns is kept (e.g. worker RSS).
    settings : list of dict
        Filled by ``warm`` on clusters: the properties each worker compiled the model with.
    """

    model: str
    precision: str
    contender: str
    scheduler: str
    rows: int
    run: Callable[[], Any]
    warm: Callable[[], Any]
    variant: str = ""
    baseline: str = ""
    after: Callable[[], Any] | None = None
    times: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)
    paired: list[float] = field(default_factory=list)
    observed: list[Any] = field(default_factory=list)
    settings: list[dict[str, str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """A unique name: model/precision/contender/scheduler[/variant]."""
        parts = [self.model, self.precision, self.contender, self.scheduler]
        return "/".join([*parts, self.variant] if self.variant else parts)

    def record(self) -> dict[str, Any]:
        """The measurement as JSON-ready data (ratios are added by the report)."""
        median = statistics.median(self.times)
        return {
            "key": self.key,
            "model": self.model,
            "precision": self.precision,
            "contender": self.contender,
            "scheduler": self.scheduler,
            "variant": self.variant,
            "baseline": self.baseline,
            "rows": self.rows,
            "seconds": [round(t, 4) for t in self.times],
            "baseline_seconds": [round(t, 4) for t in self.paired],
            "median_seconds": round(median, 4),
            "rows_per_second": round(self.rows / median, 2),
            "spread": round((max(self.times) - min(self.times)) / median, 3),
            "load_average": [round(x, 2) for x in self.loads],
            "others_cpu_share": [round(x, 3) for x in self.others],
            "observed": self.observed,
            "worker_compile_settings": self.settings,
        }


def load_average() -> float:
    """The 1-minute load average (runnable processes; 2.0 fills this machine's two cores)."""
    return os.getloadavg()[0]


def _machine_busy_seconds() -> float:
    """CPU seconds all processes (and steal) spent busy since boot, over all CPUs."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_busy_seconds() -> float:
    """CPU seconds used by this process and its live descendants (LocalCluster workers included)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


class Interference:
    """Share of the machine's CPUs used by others between :meth:`start` and :meth:`stop`."""

    def start(self) -> None:
        self._machine = _machine_busy_seconds()
        self._own = _own_busy_seconds()
        self._wall = time.perf_counter()

    def stop(self) -> float:
        machine = _machine_busy_seconds() - self._machine
        own = _own_busy_seconds() - self._own
        wall = time.perf_counter() - self._wall
        return max(0.0, (machine - own) / (wall * (os.cpu_count() or 1)))


def _time(case: Case) -> float:
    gc.collect()
    interference = Interference()
    interference.start()
    started = time.perf_counter()
    case.run()
    elapsed = time.perf_counter() - started
    case.others.append(interference.stop())
    case.times.append(elapsed)
    case.loads.append(load_average())
    return elapsed


def measure(cases: list[Case], rounds: int, *, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Warm every case, then time ``rounds`` interleaved rounds; return the records.

    In each round every case runs right after a run of its baseline, so each ratio
    compares two timings taken seconds apart; the baseline's own median pools all
    of its runs.
    """
    by_key = {case.key: case for case in cases}
    for case in cases:
        started = time.perf_counter()
        case.warm()
        log(f"  warm {case.key}: {time.perf_counter() - started:.1f}s")
    for number in range(rounds):
        shift = number % len(cases)
        for case in cases[shift:] + cases[:shift]:
            base = by_key.get(case.baseline) if case.baseline else None
            if base is not None:
                case.paired.append(_time(base))
            elapsed = _time(case)
            if case.after is not None:
                case.observed.append(case.after())
            speed = case.rows / elapsed
            log(
                f"  round {number + 1}/{rounds} {case.key}: {speed:,.1f} rows/s "
                f"(load {case.loads[-1]:.1f}, others {case.others[-1]:.0%})"
            )
    return [case.record() for case in cases]
