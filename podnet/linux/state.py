"""The record of what a cluster's realisation created, under /run/podnet/<cluster>/.

The realiser writes each intention to `journal` (one JSON object a line) *before* acting on it:
the namespaces it is about to create, the files and directories it is about to write, the
process it is starting and, once started, that process's pid and start time. `down` enumerates
the journal, so a killed `up` is cleaned like a finished one. `state.json` is written when `up`
finishes: the `Realised` record that `status`, `probe`, `verify` and `exec` read.

Nothing here chooses what to create; it only writes and reads the record.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field

from podnet.errors import NotFound
from podnet.linux.plan import STATE_ROOT, state_dir
from podnet.linux.realised import Realised

JOURNAL = "journal"
STATE = "state.json"


@dataclass
class Record:
    """What the journal says was (or was about to be) created."""

    cluster: str
    namespaces: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # files and directories outside state_dir
    processes: list[tuple[int, int]] = field(default_factory=list)  # (pid, start time)
    complete: bool = False


class Journal:
    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self.dir = state_dir(cluster)
        os.makedirs(self.dir, exist_ok=True)
        self._file = open(os.path.join(self.dir, JOURNAL), "a", buffering=1)  # noqa: SIM115

    def write(self, **entry: object) -> None:
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()

    def namespaces(self, names: list[str]) -> None:
        self.write(netns=names)

    def paths(self, paths: list[str]) -> None:
        self.write(paths=paths)

    def process(self, pid: int) -> None:
        self.write(pid=pid, start=process_start(pid))

    def close(self) -> None:
        self._file.close()


def process_start(pid: int) -> int:
    """The process's start time in clock ticks (field 22 of /proc/<pid>/stat), 0 if gone:
    together with the pid it names one process, never a later one that reused the number."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return 0
    return int(text.rsplit(")", 1)[1].split()[19])


def read(cluster: str) -> Record | None:
    directory = state_dir(cluster)
    if not os.path.isdir(directory):
        return None
    record = Record(cluster)
    try:
        with open(os.path.join(directory, JOURNAL)) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if "netns" in entry:
            record.namespaces += entry["netns"]
        if "paths" in entry:
            record.paths += entry["paths"]
        if "pid" in entry:
            record.processes.append((entry["pid"], entry.get("start", 0)))
    record.complete = os.path.exists(os.path.join(directory, STATE))
    return record


def write_state(cluster: str, state: dict) -> None:
    path = os.path.join(state_dir(cluster), STATE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, path)


def save(realised: Realised) -> None:
    """Record that `up` finished, and what it built."""
    write_state(realised.cluster, realised.to_json())


class NotUp(NotFound):
    """No record of a finished `up` for the cluster: never built, or taken down."""

    def __init__(self, cluster: str, path: str):
        self.path = path
        super().__init__("cluster", cluster, message=f"cluster {cluster!r} is not up (no {path})")


def load(cluster: str) -> Realised:
    """What `up` built for `cluster`; `NotUp` when it is not up."""
    path = os.path.join(state_dir(cluster), STATE)
    try:
        with open(path) as f:
            return Realised.from_json(json.load(f))
    except FileNotFoundError:
        raise NotUp(cluster, path) from None


def clusters() -> list[str]:
    """Clusters with a record under /run/podnet."""
    try:
        return sorted(
            d for d in os.listdir(STATE_ROOT) if os.path.isdir(os.path.join(STATE_ROOT, d))
        )
    except FileNotFoundError:
        return []


def remove(cluster: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(state_dir(cluster))
