"""Taking a cluster's realisation down: an enumeration of its record, never a guess.

What is removed: the processes the journal recorded (by pid *and* start time, so a reused pid is
never hit) and any process still inside one of the cluster's namespaces (a child started just
before a kill, a `podnet exec`); the namespaces the journal lists and every `/run/netns/pn-<cluster>-*`
(except those another cluster's record claims, for clusters whose names start with this one's);
the `/etc/netns/` directories of those namespaces; the state directory. Links, routes, rulesets
and sockets live in those namespaces and go with them. Idempotent: a second run finds nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass

from podnet.kernel import netns
from podnet.linux import state
from podnet.linux.plan import ETC_NETNS, netns_prefix

KILL_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class Summary:
    namespaces: int
    processes: int
    paths: int

    def __str__(self) -> str:
        return (
            f"removed {self.namespaces} namespace(s), stopped {self.processes} process(es),"
            f" removed {self.paths} path(s)"
        )


def claimed_elsewhere(cluster: str) -> set[str]:
    """Namespaces recorded by clusters whose prefix starts with this cluster's (`a` and `a-b`)."""
    prefix = netns_prefix(cluster)
    out: set[str] = set()
    for other in state.clusters():
        if other != cluster and netns_prefix(other).startswith(prefix):
            rec = state.read(other)
            if rec is not None:
                out |= set(rec.namespaces)
    return out


def owned_namespaces(cluster: str, record: state.Record | None, exclude: set[str]) -> list[str]:
    prefix = netns_prefix(cluster)
    found = {n for n in netns.listed() if n.startswith(prefix) and n not in exclude}
    recorded = set(record.namespaces) if record else set()
    return sorted(found | {n for n in recorded if netns.exists(n)})


def down(cluster: str) -> Summary:
    record = state.read(cluster)
    exclude = claimed_elsewhere(cluster)
    names = owned_namespaces(cluster, record, exclude)
    stopped = stop_processes(record, names)
    for name in names:
        netns.delete(name)
    paths = remove_paths(cluster, record, exclude)
    state.remove(cluster)
    return Summary(len(names), stopped, paths)


def stop_processes(record: state.Record | None, names: list[str]) -> int:
    pids = set()
    if record is not None:
        for pid, start in record.processes:
            if start and state.process_start(pid) == start:
                pids.add(pid)
    inodes = {i for i in (netns.inode(n) for n in names) if i is not None}
    pids |= set(netns.pids_in(inodes))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if _alive(p)}
        if alive:
            time.sleep(0.02)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def remove_paths(cluster: str, record: state.Record | None, exclude: set[str]) -> int:
    """The `/etc/netns/<namespace>` directories: recorded, or named with the cluster's prefix."""
    prefix = netns_prefix(cluster)
    paths = set(record.paths) if record else set()
    with contextlib.suppress(FileNotFoundError):
        paths |= {
            f"{ETC_NETNS}/{d}"
            for d in os.listdir(ETC_NETNS)
            if d.startswith(prefix) and d not in exclude
        }
    removed = 0
    for path in sorted(paths):
        if path.startswith(f"{ETC_NETNS}/{prefix}") and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
