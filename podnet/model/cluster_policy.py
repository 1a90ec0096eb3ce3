"""The cluster-scoped policy tiers of SIG Network's network-policy-api, as immutable values.

Group `policy.networking.k8s.io`: `ClusterNetworkPolicy` (v1alpha2, `spec.tier` Admin or
Baseline) and its predecessors `AdminNetworkPolicy` and `BaselineAdminNetworkPolicy` (v1alpha1).
All three are held in one form, v1alpha2's: an AdminNetworkPolicy is an Admin-tier policy, the
BaselineAdminNetworkPolicy (the singleton `default`) a Baseline-tier one, `Allow` is `Accept` and
v1alpha1 `ports` are `protocols`. The kind, API version and the field names as written are kept,
so that messages and `explain` speak the manifest's words.

Pure: plain data and the order policies are evaluated in. Parsing and validation live in
`model.parse_cluster_policy`; the meaning, connection by connection, in `policy.semantics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from podnet.ipam.addresses import IPNetwork
from podnet.model.objects import Origin, PolicyType
from podnet.model.selectors import LabelSelector

GROUP = "policy.networking.k8s.io"
CLUSTER_NETWORK_POLICY = "ClusterNetworkPolicy"
ADMIN_NETWORK_POLICY = "AdminNetworkPolicy"
BASELINE_ADMIN_NETWORK_POLICY = "BaselineAdminNetworkPolicy"
API_VERSIONS = {
    CLUSTER_NETWORK_POLICY: (f"{GROUP}/v1alpha2",),
    ADMIN_NETWORK_POLICY: (f"{GROUP}/v1alpha1",),
    BASELINE_ADMIN_NETWORK_POLICY: (f"{GROUP}/v1alpha1",),
}
KINDS = tuple(API_VERSIONS)

PRIORITY_MIN, PRIORITY_MAX = 0, 1000
# A BaselineAdminNetworkPolicy has no priority: it is the only v1alpha1 baseline. Beside
# ClusterNetworkPolicies of the Baseline tier it is evaluated last, as if its priority were the
# largest one (1000), after any such policy of priority 1000 (`ClusterPolicy.order`).
BASELINE_ADMIN_PRIORITY = PRIORITY_MAX


class Tier(StrEnum):
    """`spec.tier`: Admin is evaluated before NetworkPolicy, Baseline after it."""

    Admin = "Admin"
    Baseline = "Baseline"


class Action(StrEnum):
    """A rule's action, in v1alpha2's words (v1alpha1's `Allow` is `Accept`)."""

    Accept = "Accept"
    Deny = "Deny"
    Pass = "Pass"


TIERS = tuple(Tier)
ACTIONS = tuple(Action)


@dataclass(frozen=True, slots=True)
class NamespacedPod:
    """`pods`: pods that `pod_selector` takes in namespaces that `namespace_selector` takes."""

    namespace_selector: LabelSelector
    pod_selector: LabelSelector

    def __str__(self) -> str:
        return f"pods namespaceSelector {self.namespace_selector} podSelector {self.pod_selector}"


@dataclass(frozen=True, slots=True)
class ClusterPolicySubject:
    """`spec.subject`: exactly one of `namespaces` or `pods` (host-network pods never)."""

    namespaces: LabelSelector | None = None
    pods: NamespacedPod | None = None

    def __str__(self) -> str:
        if self.pods is not None:
            return str(self.pods)
        return f"namespaces {self.namespaces}"


@dataclass(frozen=True, slots=True)
class ClusterPolicyPeer:
    """One `from`/`to` item: exactly one field is set, or, for an item written with only fields
    podnet does not know (`unknown`, a newer CRD's), none; such a peer fails closed."""

    namespaces: LabelSelector | None = None
    pods: NamespacedPod | None = None
    nodes: LabelSelector | None = None  # egress only; experimental
    networks: tuple[IPNetwork, ...] = ()  # egress only
    domain_names: tuple[str, ...] = ()  # egress only; experimental
    unknown: tuple[str, ...] = ()

    @property
    def fails_closed(self) -> bool:
        return bool(self.unknown)

    @property
    def field(self) -> str:
        """The name of the field the item sets."""
        for name, value in (
            ("namespaces", self.namespaces),
            ("pods", self.pods),
            ("nodes", self.nodes),
        ):
            if value is not None:
                return name
        if self.networks:
            return "networks"
        if self.domain_names:
            return "domainNames"
        return ", ".join(self.unknown)

    def __str__(self) -> str:
        if self.pods is not None:
            return str(self.pods)
        if self.namespaces is not None:
            return f"namespaces {self.namespaces}"
        if self.nodes is not None:
            return f"nodes {self.nodes}"
        if self.networks:
            return "networks " + ", ".join(str(n) for n in self.networks)
        if self.domain_names:
            return "domainNames " + ", ".join(self.domain_names)
        return f"unknown peer ({', '.join(self.unknown)})"


@dataclass(frozen=True, slots=True)
class ClusterPolicyProtocol:
    """One `protocols` entry (v1alpha1: one `ports` entry): a protocol with a port or an inclusive
    range of ports, or a container port's name resolved on the destination pod."""

    protocol: str = ""  # TCP | UDP | SCTP; "" with a named port
    port: int | None = None
    end_port: int | None = None  # with `port`: the range port..end_port
    named_port: str = ""

    def __str__(self) -> str:
        if self.named_port:
            return f"named port {self.named_port}"
        if self.end_port is not None:
            return f"{self.protocol}/{self.port}-{self.end_port}"
        return f"{self.protocol}/{self.port}"


@dataclass(frozen=True, slots=True)
class ClusterPolicyRule:
    """An ingress or egress rule: its peers are ORed, its protocols ORed (none: every protocol
    and port, ICMP included)."""

    action: Action
    peers: tuple[ClusterPolicyPeer, ...]
    protocols: tuple[ClusterPolicyProtocol, ...] = ()
    name: str = ""

    @property
    def fails_closed(self) -> bool:
        """A peer of the rule is unknown: an Accept rule then matches nothing through it, and a
        Deny or Pass rule denies everything (upstream's "fail closed")."""
        return any(p.fails_closed for p in self.peers)


@dataclass(frozen=True, slots=True)
class ClusterPolicy:
    """A ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy in v1alpha2's
    form. Cluster-scoped: its name is its key."""

    name: str
    tier: Tier
    priority: int
    subject: ClusterPolicySubject
    ingress: tuple[ClusterPolicyRule, ...] = ()
    egress: tuple[ClusterPolicyRule, ...] = ()
    kind: str = CLUSTER_NETWORK_POLICY
    api_version: str = f"{GROUP}/v1alpha2"
    origin: Origin = Origin()

    @property
    def key(self) -> str:
        return self.name

    @property
    def title(self) -> str:
        """`ClusterNetworkPolicy deny-payments (priority 10)`, as messages name it."""
        if self.kind == BASELINE_ADMIN_NETWORK_POLICY:
            return f"{self.kind} {self.name}"
        return f"{self.kind} {self.name} (priority {self.priority})"

    @property
    def ports_field(self) -> str:
        """What the manifest calls a rule's port list: v1alpha1 `ports`, v1alpha2 `protocols`."""
        return "protocols" if self.kind == CLUSTER_NETWORK_POLICY else "ports"

    @property
    def order(self) -> tuple[int, int, int, str, str]:
        """The evaluation order: tier, priority, then (upstream leaves equal priorities to the
        implementation) the BaselineAdminNetworkPolicy after every ClusterNetworkPolicy of its
        priority, then by name, then by kind."""
        legacy_baseline = self.kind == BASELINE_ADMIN_NETWORK_POLICY
        return (TIERS.index(self.tier), self.priority, legacy_baseline, self.name, self.kind)

    def rules(self, direction: str) -> tuple[ClusterPolicyRule, ...]:
        return self.ingress if direction == PolicyType.Ingress else self.egress


def evaluation_order(policies: list[ClusterPolicy]) -> tuple[ClusterPolicy, ...]:
    return tuple(sorted(policies, key=lambda p: p.order))
