"""A reachability matrix, whoever computed it: the policy engine (the model) or real connections
on the kernel (`linux.verify`). A value only: its renderings live in `report.reach`, and this
module imports nothing that formats."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Probe:
    port: int
    protocol: str
    # (N, M) bool, rows sources in `Reach.pods` order, columns destinations in `Reach.columns`
    allowed: np.ndarray


@dataclass(frozen=True, slots=True)
class Reach:
    pods: list[str]  # namespace/name, sorted: the rows (sources), and the columns unless narrowed
    ips: dict[str, str]
    probes: list[Probe]
    # (port, protocol) each pod declares, as a container port or a Service's target port: lets
    # the table show, per pair, the open ports, and tell "denied" from "nothing declared there".
    declared: dict[str, set[tuple[int, str]]] = field(default_factory=dict)
    # Pods of the manifests that are not in the matrix because no node takes them: why.
    pending: dict[str, str] = field(default_factory=dict)
    # The columns when they are other pods than the rows (`reach --from X --to Y`), sorted.
    destinations: list[str] | None = None

    @property
    def columns(self) -> list[str]:
        """The destinations, in column order."""
        return self.pods if self.destinations is None else self.destinations

    # The ports were asked for by number (`--port`), not taken from what pods declare: a verdict
    # is wanted toward every pod, whether it declares the port or not.
    requested: bool = False

    def declares(self) -> np.ndarray:
        """(probes, columns) bool: destination j declares probe p's port (always, when `requested`)."""
        out = np.ones((len(self.probes), len(self.columns)), dtype=bool)
        if not self.requested:
            for p, probe in enumerate(self.probes):
                pp = (probe.port, probe.protocol)
                out[p] = [pp in self.declared.get(pod, ()) for pod in self.columns]
        return out
