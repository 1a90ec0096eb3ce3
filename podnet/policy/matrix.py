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
    # (port, protocol) each pod declares: lets the table show, per pair, the open ports.
    declared: dict[str, set[tuple[int, str]]] = field(default_factory=dict)
    # Pods of the manifests that are not in the matrix because no node takes them: why.
    pending: dict[str, str] = field(default_factory=dict)
    # The columns when they are other pods than the rows (`reach --from X --to Y`), sorted.
    destinations: list[str] | None = None

    @property
    def columns(self) -> list[str]:
        """The destinations, in column order."""
        return self.pods if self.destinations is None else self.destinations
