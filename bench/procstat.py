"""CPU accounting from /proc for the benchmarks (Linux; None elsewhere): a process tree's CPU
seconds, and the whole machine's busy seconds, so that a benchmark can say how loaded it was."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tree_cpu_s(root_pid: int | None) -> float | None:
    """User + system CPU seconds of a process and all its descendants."""
    if root_pid is None:
        return None
    try:
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    text = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                fields = text[text.rindex(")") + 2 :].split()
                stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, utime+stime
    except OSError:
        return None
    if root_pid not in stats:
        return None
    pids, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in stats.items():
            if ppid == parent and pid not in pids:
                pids.add(pid)
                frontier.append(pid)
    return sum(stats[pid][1] for pid in pids) / TICK


def machine_busy_s() -> float | None:
    """Non-idle CPU time of the whole machine (all CPUs), from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK
