"""The kernel's reachability matrix, measured with real connections, and its comparison with the
model's, cell by cell.

A cell is allowed when the connection reached the destination (it was accepted, or the host
answered that nothing listens there): NetworkPolicy drops, it never rejects. SCTP cells are not
probed (no SCTP sockets on this kernel) and are never counted as allowed or denied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from podnet.linux import probe
from podnet.model.cluster import Cluster
from podnet.policy.engine import pod_ports
from podnet.policy.matrix import Probe, Reach

SCTP_NOTE = "not probed: this kernel has no SCTP sockets"
RETRY_FACTOR = 3.0


@dataclass(frozen=True)
class Measured:
    """The probe matrix, plus what each cell's connection did."""

    reach: Reach  # TCP and UDP probes only
    outcomes: dict[tuple[int, str], np.ndarray]  # (port, protocol) -> (N, N) outcome statuses
    unsupported: list[tuple[int, str]]  # SCTP (port, protocol) pairs asked for


def probed_pods(cluster: Cluster) -> list:
    version = cluster.config.families[0]
    return sorted(
        (p for p in cluster.running_pods if any(ip.version == version for ip in p.ips)),
        key=lambda p: p.key,
    )


def measure(
    cluster: Cluster,
    netns_of: dict[str, str],
    ports: list[tuple[int, str]],
    timeout: float = probe.DEFAULT_TIMEOUT,
) -> Measured:
    """Probe every pod pair of `cluster` on every (port, protocol), from the namespaces
    `netns_of` names (pod key -> namespace)."""
    pods = probed_pods(cluster)
    keys = [p.key for p in pods]
    ips = {p.key: str(p.ips[0]) for p in pods}
    tested = [pp for pp in ports if pp[1] in ("TCP", "UDP")]
    attempts = [
        probe.Attempt(netns_of[src], ips[dst], port, proto)
        for port, proto in tested
        for src in keys
        for dst in keys
    ]
    results = probe.run(attempts, timeout=timeout)
    n = len(keys)
    outcomes = {}
    probes = []
    for i, (port, proto) in enumerate(tested):
        cells = results[i * n * n : (i + 1) * n * n]
        status = np.array([o.status for o in cells], dtype=object).reshape(n, n)
        reached = np.array([o.reached for o in cells], dtype=bool).reshape(n, n)
        outcomes[(port, proto)] = status
        probes.append(Probe(port, proto, reached))
    reach = Reach(
        pods=keys,
        ips=ips,
        probes=probes,
        declared=pod_ports(pods, cluster),  # as `reach` counts them: Service target ports too
    )
    unsupported = [pp for pp in ports if pp[1] not in ("TCP", "UDP")]
    return Measured(reach, outcomes, unsupported)


@dataclass(frozen=True, slots=True)
class Difference:
    src: str
    dst: str
    port: int
    protocol: str
    model: bool
    kernel: bool
    outcome: str

    def __str__(self) -> str:
        def word(allowed: bool) -> str:
            return "allowed" if allowed else "denied"

        return (
            f"{self.src} -> {self.dst} {self.port}/{self.protocol}: model {word(self.model)},"
            f" kernel {word(self.kernel)} ({self.outcome})"
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    """What `podnet verify` found: the pod-to-pod cells that differ, and the Service ports'
    problems (None when they were not compared)."""

    differences: tuple[Difference, ...]
    service_problems: tuple[str, ...] | None
    measured: Measured

    @property
    def total(self) -> int:
        return len(self.differences) + len(self.service_problems or ())


def differences(model: Reach, measured: Measured) -> list[Difference]:
    """Cells where the model and the kernel disagree (SCTP never compared)."""
    kernel = measured.reach
    out = []
    index = {k: i for i, k in enumerate(kernel.pods)}
    for mp in model.probes:
        kp = next(
            (p for p in kernel.probes if (p.port, p.protocol) == (mp.port, mp.protocol)), None
        )
        if kp is None:
            continue
        status = measured.outcomes[(mp.port, mp.protocol)]
        for i, src in enumerate(model.pods):
            for j, dst in enumerate(model.pods):
                a, b = index.get(src), index.get(dst)
                if a is None or b is None:
                    continue
                m, k = bool(mp.allowed[i, j]), bool(kp.allowed[a, b])
                if m != k:
                    out.append(Difference(src, dst, mp.port, mp.protocol, m, k, status[a, b]))
    return out


def recheck(
    measured: Measured,
    netns_of: dict[str, str],
    diffs: list[Difference],
    timeout: float,
) -> list[Difference]:
    """Probe the differing cells again with a longer timeout (a loaded machine can be slow to
    answer); the cells that still differ."""
    if not diffs:
        return []
    ips = measured.reach.ips
    attempts = [probe.Attempt(netns_of[d.src], ips[d.dst], d.port, d.protocol) for d in diffs]
    outcomes = probe.run(attempts, timeout=timeout * RETRY_FACTOR)
    still = []
    index = {k: i for i, k in enumerate(measured.reach.pods)}
    for d, o in zip(diffs, outcomes, strict=True):
        kp = next(p for p in measured.reach.probes if (p.port, p.protocol) == (d.port, d.protocol))
        a, b = index[d.src], index[d.dst]
        kp.allowed[a, b] = o.reached
        measured.outcomes[(d.port, d.protocol)][a, b] = o.status
        if o.reached != d.model:
            still.append(Difference(d.src, d.dst, d.port, d.protocol, d.model, o.reached, o.status))
    return still
