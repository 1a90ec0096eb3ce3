"""ClusterNetworkPolicy (v1alpha2), AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1)
documents to `model.cluster_policy` values, validated as the API server validates them with
network-policy-api's CRD schema and CEL rules (kubernetes-sigs/network-policy-api, apis/v1alpha1
at v0.1.8, apis/v1alpha2/clusternetworkpolicy_types.go).

Every problem is recorded on its field (file, line, object, field path); the caller raises them
together. Beyond the schema, podnet rejects what it could only misread: the v1alpha1 peer shape of
v0.1.1 and earlier (with a migration hint) and a port range whose start is not below its end
(v1alpha1 states the rule in its field documentation; v1alpha2 enforces it with CEL).

A `from`/`to` item written only with fields podnet does not know is kept as an unknown peer, which
fails closed as upstream prescribes for an implementation meeting a newer CRD.
"""

from __future__ import annotations

import re

from podnet.model import validation as v
from podnet.model.cluster_policy import (
    ADMIN_NETWORK_POLICY,
    BASELINE_ADMIN_NETWORK_POLICY,
    BASELINE_ADMIN_PRIORITY,
    CLUSTER_NETWORK_POLICY,
    PRIORITY_MAX,
    PRIORITY_MIN,
    Action,
    ClusterPolicy,
    ClusterPolicyPeer,
    ClusterPolicyProtocol,
    ClusterPolicyRule,
    ClusterPolicySubject,
    NamespacedPod,
    Tier,
)
from podnet.model.fields import Field, quote
from podnet.model.objects import PROTOCOLS, Origin
from podnet.model.parse import label_selector
from podnet.model.selectors import LabelSelector

# The CRD's DomainName pattern, verbatim (its `A-z` ranges included).
DOMAIN_NAME = re.compile(
    r"^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$"
)
CIDR_MAX_LENGTH = 43
RULE_NAME_MAX = 100
MAX_NETWORKS = MAX_DOMAIN_NAMES = 25
# Rules per direction, peers per rule, port entries per rule.
LIMITS = {CLUSTER_NETWORK_POLICY: 25, ADMIN_NETWORK_POLICY: 100, BASELINE_ADMIN_NETWORK_POLICY: 100}
ACTIONS = {
    CLUSTER_NETWORK_POLICY: {"Accept": Action.Accept, "Deny": Action.Deny, "Pass": Action.Pass},
    ADMIN_NETWORK_POLICY: {"Allow": Action.Accept, "Deny": Action.Deny, "Pass": Action.Pass},
    BASELINE_ADMIN_NETWORK_POLICY: {"Allow": Action.Accept, "Deny": Action.Deny},
}
INGRESS_PEERS = ("namespaces", "pods")
EGRESS_PEERS = {
    CLUSTER_NETWORK_POLICY: ("namespaces", "pods", "nodes", "networks", "domainNames"),
    ADMIN_NETWORK_POLICY: ("namespaces", "pods", "nodes", "networks", "domainNames"),
    BASELINE_ADMIN_NETWORK_POLICY: ("namespaces", "pods", "nodes", "networks"),
}
ALL_PEERS = EGRESS_PEERS[CLUSTER_NETWORK_POLICY]
# The v1alpha1 peer fields before v0.1.5.
OLD_NAMESPACES = ("namespaceSelector", "sameLabels", "notSameLabels")
MIGRATION = (
    "this is the peer shape of network-policy-api v0.1.1 and earlier; since v0.1.5 `namespaces` is"
    " a label selector (write its matchLabels/matchExpressions directly under `namespaces`) and"
    " `pods` is {namespaceSelector, podSelector}; sameLabels and notSameLabels were removed"
)


def parse_cluster_policy(obj: Field, kind: str, name: str, origin: Origin) -> ClusterPolicy | None:
    """The policy `obj` declares, or None when its spec is too broken to hold one (the problems
    are on `obj`'s context)."""
    api_version = obj["apiVersion"].str()
    spec = obj["spec"]
    if not spec.present:
        spec.error("Required value")
        return None
    if not spec.is_map():
        return None
    limit = LIMITS[kind]
    if kind == CLUSTER_NETWORK_POLICY:
        spec.unknown_fields(("tier", "priority", "subject", "ingress", "egress"))
        tier_text = spec["tier"].str(required=True)
        if tier_text and tier_text not in tuple(Tier):
            spec["tier"].error(
                f'Unsupported value: "{tier_text}": supported values: "Admin", "Baseline"'
            )
        tier = Tier(tier_text) if tier_text in tuple(Tier) else Tier.Admin
    elif kind == ADMIN_NETWORK_POLICY:
        spec.unknown_fields(("priority", "subject", "ingress", "egress"))
        tier = Tier.Admin
    else:
        spec.unknown_fields(("subject", "ingress", "egress"))
        tier = Tier.Baseline
        if name and name != "default":
            obj["metadata"]["name"].error(
                f"Invalid value: {quote(name)}: Only one baseline admin network policy with"
                ' metadata.name="default" can be created in the cluster'
            )
    if kind == BASELINE_ADMIN_NETWORK_POLICY:
        priority = BASELINE_ADMIN_PRIORITY
    else:
        priority = _priority(spec["priority"])
    subject = _subject(spec["subject"])
    rules = {}
    for direction in ("ingress", "egress"):
        f = spec[direction]
        items = f.objects()
        if len(items) > limit:
            f.error(f"Too many: {len(items)}: must have at most {limit} items")
        rules[direction] = tuple(
            r for r in (_rule(item, kind, direction) for item in items) if r is not None
        )
    if subject is None:
        return None
    return ClusterPolicy(
        name,
        tier,
        priority,
        subject,
        rules["ingress"],
        rules["egress"],
        kind,
        api_version,
        origin,
    )


def _priority(f: Field) -> int:
    value = f.int(required=True)
    if value is None:
        return PRIORITY_MAX
    if value < PRIORITY_MIN:
        f.error(f"Invalid value: {value}: should be greater than or equal to {PRIORITY_MIN}")
    elif value > PRIORITY_MAX:
        f.error(f"Invalid value: {value}: should be less than or equal to {PRIORITY_MAX}")
    return value


def _one_of(f: Field, known: tuple[str, ...], what: str) -> list[str]:
    """The fields of `known` that the map `f` sets; an error unless exactly one (MinProperties
    and MaxProperties 1)."""
    given = [k for k in known if f[k].present]
    if not given:
        f.error(f"Required value: {what} must set exactly one of {', '.join(known)}")
    elif len(given) > 1:
        f.error(f"Invalid value: {what} must set exactly one of {', '.join(known)}, not {given}")
    return given


def _subject(f: Field) -> ClusterPolicySubject | None:
    if not f.present:
        f.error("Required value")
        return None
    if not f.is_map():
        return None
    f.unknown_fields(("namespaces", "pods"))
    given = _one_of(f, ("namespaces", "pods"), "a subject")
    if len(given) != 1:
        return None
    if given == ["namespaces"]:
        return ClusterPolicySubject(namespaces=_namespaces(f["namespaces"]))
    pods = _pods(f["pods"])
    return None if pods is None else ClusterPolicySubject(pods=pods)


def _namespaces(f: Field) -> LabelSelector:
    old = [k for k in OLD_NAMESPACES if isinstance(f.value, dict) and k in f.value]
    if old:
        f[old[0]].error(f"unknown field: {MIGRATION}")
        return label_selector(Field(f.ctx, None, f.path))
    return label_selector(f)


def _pods(f: Field) -> NamespacedPod | None:
    if not f.is_map():
        return None
    if "namespaces" in f.value:
        f["namespaces"].error(f"unknown field: {MIGRATION}")
        return None
    f.unknown_fields(("namespaceSelector", "podSelector"))
    if not f["podSelector"].present:
        f["podSelector"].error("Required value")
    return NamespacedPod(label_selector(f["namespaceSelector"]), label_selector(f["podSelector"]))


def _rule(r: Field, kind: str, direction: str) -> ClusterPolicyRule | None:
    peers_key = "from" if direction == "ingress" else "to"
    ports_key = "protocols" if kind == CLUSTER_NETWORK_POLICY else "ports"
    r.unknown_fields(("name", "action", peers_key, ports_key))
    limit = LIMITS[kind]
    name = r["name"].str()
    if len(name) > RULE_NAME_MAX:
        r["name"].error(
            f"Too long: may not be more than {RULE_NAME_MAX} bytes (it has {len(name)})"
        )
    actions = ACTIONS[kind]
    action_text = r["action"].str(required=True)
    action = actions.get(action_text)
    if action_text and action is None:
        r["action"].error(
            f'Unsupported value: "{action_text}": supported values: '
            + ", ".join(f'"{a}"' for a in actions)
        )
    peers_field = r[peers_key]
    items = peers_field.objects()
    if not peers_field.present:
        peers_field.error("Required value")
    elif not items and isinstance(peers_field.value, list):
        peers_field.error("Invalid value: must have at least 1 item")
    elif len(items) > limit:
        peers_field.error(f"Too many: {len(items)}: must have at most {limit} items")
    known = INGRESS_PEERS if direction == "ingress" else EGRESS_PEERS[kind]
    peers = [_peer(p, known, kind, direction) for p in items]
    ports_field = r[ports_key]
    port_items = ports_field.objects()
    if ports_field.present and isinstance(ports_field.value, list) and not port_items:
        ports_field.error("Invalid value: must have at least 1 item")
    elif len(port_items) > limit:
        ports_field.error(f"Too many: {len(port_items)}: must have at most {limit} items")
    parse_port = _protocol if kind == CLUSTER_NETWORK_POLICY else _port
    protocols = [parse_port(p) for p in port_items]
    if direction == "egress":
        _named_ports_need_pods(r, kind, peers, protocols, ports_key)
    if action is None or any(p is None for p in peers) or any(p is None for p in protocols):
        return None
    return ClusterPolicyRule(
        action,
        tuple(p for p in peers if p is not None),
        tuple(p for p in protocols if p is not None),
        name,
    )


def _named_ports_need_pods(
    r: Field,
    kind: str,
    peers: list[ClusterPolicyPeer | None],
    protocols: list[ClusterPolicyProtocol | None],
    ports_key: str,
) -> None:
    """The egress rule's CEL rule: a named port is resolved on a pod, so not with peers that are
    addresses (networks, nodes, domainNames)."""
    addressed = ("networks", "nodes") if kind == BASELINE_ADMIN_NETWORK_POLICY else (
        "networks", "nodes", "domainNames"
    )  # fmt: skip
    if any(p is not None and p.field in addressed for p in peers) and any(
        p is not None and p.named_port for p in protocols
    ):
        names = "/".join(addressed)
        r.error(
            f"Invalid value: {names} peer cannot be set with namedPorts since there are no"
            f" namedPorts for {names} (a named {ports_key} entry is resolved on a pod)"
        )


def _peer(f: Field, known: tuple[str, ...], kind: str, direction: str) -> ClusterPolicyPeer | None:
    keys = f.keys()
    elsewhere = [k for k in keys if k in ALL_PEERS and k not in known]
    for k in elsewhere:
        where = "an ingress peer" if direction == "ingress" else f"a {kind} egress peer"
        f[k].error(f"unknown field: {k} is not {where} (its peers: {', '.join(known)})")
    if elsewhere:
        return None
    unknown = tuple(k for k in keys if k not in known)
    given = [k for k in known if k in keys]
    if not given and unknown:
        # A newer CRD's peer: upstream says to fail closed rather than to guess.
        return ClusterPolicyPeer(unknown=unknown)
    if not given or len(given) + len(unknown) > 1:
        f.error(
            f"Invalid value: a peer must set exactly one of {', '.join(known)}"
            + (f", not {keys}" if keys else "")
        )
        return None
    field = given[0]
    if field == "namespaces":
        return ClusterPolicyPeer(namespaces=_namespaces(f["namespaces"]))
    if field == "pods":
        pods = _pods(f["pods"])
        return None if pods is None else ClusterPolicyPeer(pods=pods)
    if field == "nodes":
        return ClusterPolicyPeer(nodes=label_selector(f["nodes"]))
    if field == "networks":
        return _networks(f["networks"])
    return _domain_names(f["domainNames"])


def _set_items(f: Field, most: int) -> list[tuple[Field, str]] | None:
    """The strings of a `listType=set` list of 1 to `most` items."""
    items = f.string_items()
    if not items and isinstance(f.value, list):
        f.error("Invalid value: must have at least 1 item")
        return None
    if len(items) > most:
        f.error(f"Too many: {len(items)}: must have at most {most} items")
        return None
    seen: set[str] = set()
    for item, text in items:
        if text in seen:
            item.error(f"Duplicate value: {quote(text)}")
        seen.add(text)
    return items


def _networks(f: Field) -> ClusterPolicyPeer | None:
    items = _set_items(f, MAX_NETWORKS)
    if items is None:
        return None
    nets = []
    ok = True
    for item, text in items:
        net = v.parse_cidr(text)
        if len(text) > CIDR_MAX_LENGTH:
            item.error(f"Too long: may not be more than {CIDR_MAX_LENGTH} bytes")
            ok = False
        elif net is None:
            item.error(f"Invalid value: {quote(text)}: Invalid CIDR format provided")
            ok = False
        else:
            nets.append(net)
    return ClusterPolicyPeer(networks=tuple(nets)) if ok else None


def _domain_names(f: Field) -> ClusterPolicyPeer | None:
    items = _set_items(f, MAX_DOMAIN_NAMES)
    if items is None:
        return None
    ok = True
    for item, text in items:
        if not DOMAIN_NAME.match(text):
            item.error(
                f"Invalid value: {quote(text)}: not a domain name: an exact name of two or more"
                " labels, or `*.` and one (the wildcard takes whole labels), as the CRD's"
                " DomainName pattern has it"
            )
            ok = False
    return ClusterPolicyPeer(domain_names=tuple(t for _, t in items)) if ok else None


def _port_number(f: Field) -> int | None:
    value = f.int(required=True)
    if value is None:
        return None
    if not 1 <= value <= 65535:
        f.error(f"Invalid value: {value}: must be between 1 and 65535, inclusive")
        return None
    return value


def _range(f: Field, start_key: str = "start", end_key: str = "end") -> tuple[int, int] | None:
    start, end = _port_number(f[start_key]), _port_number(f[end_key])
    if start is None or end is None:
        return None
    if start >= end:
        f.error(f"Invalid value: {start}-{end}: Start port must be less than End port")
        return None
    return start, end


def _protocol(f: Field) -> ClusterPolicyProtocol | None:
    """A v1alpha2 `protocols` entry."""
    f.unknown_fields(("tcp", "udp", "sctp", "destinationNamedPort"))
    given = _one_of(f, ("tcp", "udp", "sctp", "destinationNamedPort"), "a protocols entry")
    if len(given) != 1:
        return None
    if given == ["destinationNamedPort"]:
        name = f["destinationNamedPort"].str(required=True)
        return ClusterPolicyProtocol(named_port=name) if name else None
    key = given[0]
    entry = f[key]
    if not entry.is_map():
        return None
    entry.unknown_fields(("destinationPort",))
    port = entry["destinationPort"]
    if not port.present:
        entry.error(
            f"Invalid value: {key}: {{}} sets no destinationPort: the CRD schema requires one"
            " (minProperties 1), although the API overview describes an omitted destinationPort"
            " as every port of the protocol; for every port, write"
            " destinationPort: {range: {start: 1, end: 65535}}"
        )
        return None
    if not port.is_map():
        return None
    port.unknown_fields(("number", "range"))
    which = _one_of(port, ("number", "range"), "a destinationPort")
    if len(which) != 1:
        return None
    protocol = key.upper()
    if which == ["number"]:
        number = _port_number(port["number"])
        return None if number is None else ClusterPolicyProtocol(protocol, number)
    if not port["range"].is_map():
        return None
    port["range"].unknown_fields(("start", "end"))
    bounds = _range(port["range"])
    return None if bounds is None else ClusterPolicyProtocol(protocol, *bounds)


def _port(f: Field) -> ClusterPolicyProtocol | None:
    """A v1alpha1 `ports` entry, in the v1alpha2 form."""
    f.unknown_fields(("portNumber", "portRange", "namedPort"))
    given = _one_of(f, ("portNumber", "portRange", "namedPort"), "a ports entry")
    if len(given) != 1:
        return None
    if given == ["namedPort"]:
        name = f["namedPort"].str(required=True)
        return ClusterPolicyProtocol(named_port=name) if name else None
    entry = f[given[0]]
    if not entry.is_map():
        return None
    if given == ["portNumber"]:
        entry.unknown_fields(("protocol", "port"))
    else:
        entry.unknown_fields(("protocol", "start", "end"))
    protocol = entry["protocol"].str("TCP") or "TCP"  # the schema's default
    if protocol not in PROTOCOLS:
        entry["protocol"].error(
            f'Unsupported value: "{protocol}": supported values: "TCP", "UDP", "SCTP"'
        )
        return None
    if given == ["portNumber"]:
        number = _port_number(entry["port"])
        return None if number is None else ClusterPolicyProtocol(protocol, number)
    bounds = _range(entry)
    return None if bounds is None else ClusterPolicyProtocol(protocol, *bounds)
