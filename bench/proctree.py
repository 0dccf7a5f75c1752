"""Run a command and measure it with all its descendants: wall, CPU, peak RSS and PSS (summed).

`/usr/bin/time` reports the largest process's peak, and RUSAGE_CHILDREN only counts
descendants that were waited for; a parser pool's workers are neither. So /proc is sampled
every `interval` seconds: CPU is each process's last sampled user+system time (or the
waited-for total if larger), peak RSS the largest sum over one sample. A sum of RSS counts
the pages that forked workers share with their parent once per process; PSS (proportional
set size, from /proc/PID/smaps_rollup) shares them out, so its sum is the memory the tree
really takes. Linux only.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Measure:
    wall: float
    cpu: float
    peak_rss_mb: float
    peak_pss_mb: float
    stdout: str
    returncode: int


def _stat(pid: int) -> tuple[int, float, int] | None:
    """(parent pid, cpu seconds, rss bytes) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, int(fields[21]) * PAGE


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree(root: int) -> dict[int, tuple[float, int]]:
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            found = _stat(int(name))
            if found:
                stats[int(name)] = found
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, _) in stats.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return {pid: stats[pid][1:] for pid in members if pid in stats}


def run(cmd: list[str], interval: float = 0.05, **kwargs: object) -> Measure:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **kwargs)  # type: ignore[call-overload]
    cpu: dict[int, float] = {}
    peak = peak_pss = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss
        while not stop.is_set():
            tree = _tree(proc.pid)
            for pid, (seconds, _) in tree.items():
                cpu[pid] = max(cpu.get(pid, 0.0), seconds)
            peak = max(peak, sum(rss for _, rss in tree.values()))
            peak_pss = max(peak_pss, sum(_pss(pid) for pid in tree))
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measure(wall, max(waited, sum(cpu.values())), peak / 2**20, peak_pss / 2**20, out,
                   proc.returncode)
