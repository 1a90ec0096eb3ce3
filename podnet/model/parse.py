"""Manifest documents to objects, validated as the API server would validate them.

Every problem of every document is collected, then raised together as one ManifestError.
Workloads are kept as templates here; `workloads` expands them into pods.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from podnet.errors import InvalidValue, ManifestError, Problem
from podnet.ipam.allocate import primaries_first
from podnet.model import validation as v
from podnet.model.cluster_policy import API_VERSIONS as CLUSTER_POLICY_VERSIONS
from podnet.model.cluster_policy import KINDS as CLUSTER_POLICY_KINDS
from podnet.model.cluster_policy import ClusterPolicy
from podnet.model.config import ClusterConfig, parse_config
from podnet.model.documents import Document, FieldPath
from podnet.model.fields import Context, Field, quote, type_name
from podnet.model.objects import (
    POLICY_TYPES,
    ContainerPort,
    EndpointSlice,
    IPAddress,
    IPBlock,
    IPNetwork,
    Namespace,
    NetworkPolicy,
    Node,
    NodeSelectorTerm,
    Origin,
    Pod,
    PodAffinityTerm,
    PodDNSConfig,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    PolicyType,
    Service,
    Taint,
    Toleration,
    TopologySpreadConstraint,
)
from podnet.model.parse_services import parse_endpoint_slice, parse_service
from podnet.model.selectors import OPERATORS, LabelSelector, Requirement

WORKLOAD_KINDS = (
    "Deployment",
    "ReplicaSet",
    "ReplicationController",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
)

API_VERSIONS = {
    "Namespace": ("v1",),
    "Node": ("v1",),
    "Pod": ("v1",),
    "Service": ("v1",),
    "Deployment": ("apps/v1",),
    "ReplicaSet": ("apps/v1",),
    "ReplicationController": ("v1",),
    "StatefulSet": ("apps/v1",),
    "DaemonSet": ("apps/v1",),
    "Job": ("batch/v1",),
    "CronJob": ("batch/v1",),
    "EndpointSlice": ("discovery.k8s.io/v1",),
    "NetworkPolicy": ("networking.k8s.io/v1",),
    "ClusterNetwork": ("podnet.io/v1alpha1",),
    "Cluster": ("kind.x-k8s.io/v1alpha4",),
    **CLUSTER_POLICY_VERSIONS,
}
CLUSTER_SCOPED = ("Namespace", "Node", "ClusterNetwork", "Cluster", *CLUSTER_POLICY_KINDS)
# API groups of the kinds above, as served now or in the past. A known kind name in another group
# is another resource (Cluster API's `Cluster`, a CRD named `Node`): skipped like unknown kinds.
KNOWN_GROUPS = ("", "apps", "batch", "extensions", "networking.k8s.io", "discovery.k8s.io")
MAX_REPLICAS = 100_000  # far beyond any real workload; keeps expansion bounded


@dataclass(frozen=True, slots=True)
class Workload:
    """A controller and the pod template it stamps out."""

    kind: str
    name: str
    namespace: str
    template: Pod  # name empty; labels and spec from the template
    raw_template: Any  # the template as written: the input of pod-template-hash
    replicas: int
    selector: LabelSelector | None
    uid: str
    origin: Origin
    service_name: str = ""  # StatefulSet: the governing Service, the pods' subdomain


@dataclass
class Manifests:
    """Everything the documents declared, before scheduling and addressing."""

    namespaces: list[Namespace] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    endpoint_slices: list[EndpointSlice] = field(default_factory=list)
    policies: list[NetworkPolicy] = field(default_factory=list)
    # ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy, in document order.
    cluster_policies: list[ClusterPolicy] = field(default_factory=list)
    config: ClusterConfig = field(default_factory=ClusterConfig)
    # Where namespaced objects that state no namespace were put, as `kubectl apply -n`.
    default_namespace: str = "default"
    owned: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, ns, name) with children
    skipped: Counter[str] = field(default_factory=Counter)


def parse_documents(docs: list[Document], namespace: str = "default") -> Manifests:
    """The objects of `docs`; a namespaced object stating no namespace is put in `namespace`,
    as `kubectl apply -n` does (one that states another namespace keeps it)."""
    out = Manifests(default_namespace=check_namespace(namespace))
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str], Origin] = {}
    configs: list[Field] = []  # ClusterNetwork and kind Cluster documents
    for doc in docs:
        ctx = Context(doc)
        _parse_one(Field(ctx, doc.data), out, seen, configs)
        problems += ctx.problems
    out.config = parse_config(configs)
    problems += [p for c in configs for p in c.ctx.problems if p not in problems]
    if problems:
        raise ManifestError(problems)
    return out


def check_namespace(namespace: str) -> str:
    """`namespace` when the API server would take it as a namespace's name; else InvalidValue."""
    wrong = v.dns1123_label(namespace)
    if wrong:
        raise InvalidValue("namespace", repr(namespace), "; ".join(wrong))
    return namespace


def _parse_one(
    obj: Field, out: Manifests, seen: dict[tuple[str, str, str], Origin], configs: list[Field]
) -> None:
    if not obj.is_map():
        return
    kind = obj["kind"].str(required=True)
    api_version = obj["apiVersion"].str(required=True)
    if not kind or not api_version:
        return
    if kind.endswith("List") and obj["items"].present:
        obj["items"].error(f"must be a list, not {type_name(obj['items'].value)}")
        return
    group = api_version.rpartition("/")[0]
    own_groups = {a.rpartition("/")[0] for a in API_VERSIONS.get(kind, ())}
    if kind not in API_VERSIONS or group not in (*KNOWN_GROUPS, *own_groups):
        out.skipped[f"{kind} ({api_version})" if kind in API_VERSIONS else kind] += 1
        return
    if api_version not in API_VERSIONS[kind]:
        obj["apiVersion"].error(
            f'Unsupported value: "{api_version}": supported values: '
            + ", ".join(f'"{a}"' for a in API_VERSIONS[kind])
        )
        return
    meta = obj["metadata"]
    name = meta["name"].str(required=kind not in ("Cluster",))
    default = out.default_namespace
    namespace = "" if kind in CLUSTER_SCOPED else meta["namespace"].str(default) or default
    ctx = obj.ctx
    ctx.obj = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    origin = Origin(ctx.doc.file, ctx.doc.index, ctx.doc.line())
    if kind in ("ClusterNetwork", "Cluster"):
        configs.append(obj)
        return
    if name:
        name_check = {"Namespace": v.dns1123_label, "Service": v.dns1035_label}.get(
            kind, v.dns1123_subdomain
        )
        meta["name"].check(name, name_check)
    if namespace and namespace != default:
        meta["namespace"].check(namespace, v.dns1123_label)
    key = (kind, namespace, name)
    if name and key in seen:
        obj.error(f"{ctx.obj} is declared twice (first at {seen[key]})")
        return
    seen[key] = origin
    labels = _labels(meta["labels"])
    for owner in meta["ownerReferences"].items():
        okind, oname = owner["kind"].str(), owner["name"].str()
        if okind and oname:
            out.owned.add((okind, namespace, oname))
    if kind == "Namespace":
        out.namespaces.append(Namespace(name, labels, origin))
    elif kind == "Node":
        out.nodes.append(_node(obj, name, labels, origin))
    elif kind == "Pod":
        pod = _pod(obj["spec"], name, namespace, labels, origin)
        out.pods.append(_pod_status(obj, pod))
    elif kind in WORKLOAD_KINDS:
        workload = _workload(obj, kind, name, namespace, origin)
        if workload is not None:
            out.workloads.append(workload)
    elif kind == "Service":
        out.services.append(parse_service(obj, name, namespace, labels, origin))
    elif kind == "EndpointSlice":
        out.endpoint_slices.append(parse_endpoint_slice(obj, name, namespace, labels, origin))
    elif kind == "NetworkPolicy":
        origin = replace(origin, lines=_policy_lines(ctx.doc.lines))
        out.policies.append(_network_policy(obj["spec"], name, namespace, origin))
    elif kind in CLUSTER_POLICY_KINDS:
        from podnet.model.parse_cluster_policy import parse_cluster_policy  # it imports this module

        origin = replace(origin, lines=_policy_lines(ctx.doc.lines))
        cluster_policy = parse_cluster_policy(obj, kind, name, origin)
        if cluster_policy is not None:
            out.cluster_policies.append(cluster_policy)


# metadata and selectors ---------------------------------------------------------------------------


def _labels(f: Field) -> dict[str, str]:
    labels = f.string_map()
    for k, val in labels.items():
        f[k].check(k, v.qualified_name)
        f[k].check(val, v.label_value)
    return labels


def label_selector(f: Field) -> LabelSelector:
    """metav1.LabelSelector, validated (an absent selector is the empty one)."""
    if not f.present:
        return LabelSelector()
    if not f.is_map():
        return LabelSelector()
    match_labels = _labels(f["matchLabels"])
    exprs = []
    for e in f["matchExpressions"].objects():
        key = e["key"].str(required=True)
        if key:
            e["key"].check(key, v.qualified_name)
        op = e["operator"].str(required=True)
        value_items = e["values"].string_items()
        values = [val for _, val in value_items]
        if op and op not in OPERATORS:
            e["operator"].error(f'Invalid value: "{op}": not a valid selector operator')
        elif op in ("In", "NotIn") and not values:
            e["values"].error(
                "Required value: must be specified when `operator` is 'In' or 'NotIn'"
            )
        elif op in ("Exists", "DoesNotExist") and values:
            e["values"].error(
                "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            )
        for item, val in value_items:
            item.check(val, v.label_value)
        exprs.append(Requirement(key, op, tuple(values)))
    return LabelSelector.of(match_labels, *exprs)


# nodes and pods -----------------------------------------------------------------------------------


def _node(obj: Field, name: str, labels: dict[str, str], origin: Origin) -> Node:
    spec = obj["spec"]
    cidrs: list[IPNetwork] = []
    given = spec["podCIDRs"].string_items() or (
        [(spec["podCIDR"], spec["podCIDR"].str())] if spec["podCIDR"].present else []
    )
    for f, c in given:
        net = v.parse_cidr(c)
        if net is None:
            f.error(f"Invalid value: {quote(c)}: must be a valid CIDR (e.g. 10.244.1.0/24)")
        else:
            cidrs.append(net)
    if len(cidrs) > 2 or len({c.version for c in cidrs}) < len(cidrs):
        spec["podCIDRs"].error(
            "Invalid value: may specify no more than one CIDR for each IP family"
        )
    taints = []
    for t in spec["taints"].objects():
        effect = t["effect"].str(required=True)
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            t["effect"].error(
                f'Unsupported value: "{effect}": supported values: "NoExecute", "NoSchedule",'
                ' "PreferNoSchedule"'
            )
        taints.append(Taint(t["key"].str(required=True), t["value"].str(), effect))
    given: dict[str, list[IPAddress]] = {"InternalIP": [], "ExternalIP": []}
    for a in obj["status"]["addresses"].objects():
        kind = a["type"].str()
        if kind in given:
            ip = v.parse_ip(a["address"].str())
            if ip is None:
                a["address"].error(
                    f"Invalid value: {quote(a['address'].value)}: must be a valid IP"
                )
            else:
                given[kind].append(ip)
    ips = primaries_first([*given["InternalIP"], *given["ExternalIP"]])
    return Node(name, labels, ips, tuple(cidrs), tuple(taints), origin)


def pod_from_spec(
    spec: Field, name: str, namespace: str, labels: dict[str, str], origin: Origin, owner: str = ""
) -> Pod:
    """A pod from a PodSpec (of a Pod, or of a workload's template)."""
    host_network = spec["hostNetwork"].bool()
    ports = _container_ports(spec, host_network)
    tolerations = _tolerations(spec["tolerations"])
    affinity = _required_node_affinity(spec["affinity"]["nodeAffinity"])
    pod_affinity = _pod_affinity(spec["affinity"]["podAffinity"])
    pod_anti_affinity = _pod_affinity(spec["affinity"]["podAntiAffinity"])
    spread = _topology_spread_constraints(spec["topologySpreadConstraints"])
    node_selector = spec["nodeSelector"].string_map()
    hostname = spec["hostname"].str()
    subdomain = spec["subdomain"].str()
    for f, val in ((spec["hostname"], hostname), (spec["subdomain"], subdomain)):
        if val:
            f.check(val, v.dns1123_label)
    return Pod(
        name=name,
        namespace=namespace,
        labels=labels,
        ports=tuple(ports),
        node_name=spec["nodeName"].str(),
        node_selector=node_selector,
        node_affinity=tuple(affinity),
        tolerations=tuple(tolerations),
        pod_affinity=pod_affinity,
        pod_anti_affinity=pod_anti_affinity,
        topology_spread_constraints=spread,
        host_network=host_network,
        hostname=hostname,
        subdomain=subdomain,
        dns_policy=_dns_policy(spec),
        dns_config=_dns_config(spec["dnsConfig"]),
        owner=owner,
        origin=origin,
    )


def _container_ports(spec: Field, host_network: bool) -> list[ContainerPort]:
    """The ports of the containers and of the sidecars (init containers that keep running)."""
    ports: list[ContainerPort] = []
    containers = spec["containers"].objects()
    if not containers and spec.present:
        spec["containers"].error("Required value")
    sidecars = [c for c in spec["initContainers"].objects() if c["restartPolicy"].value == "Always"]
    for c in containers + sidecars:
        cname = c["name"].str(required=True)
        names: set[str] = set()  # port names are unique within a container
        for p in c["ports"].objects():
            port = _container_port(p, cname, host_network, names)
            if port is not None:
                ports.append(port)
    return ports


def _container_port(
    p: Field, container: str, host_network: bool, names: set[str]
) -> ContainerPort | None:
    """One entry of a container's `ports`; None when it has no valid number."""
    number = p["containerPort"].int(required=True)
    if number is not None:
        p["containerPort"].check(number, v.port_number)
    proto = p["protocol"].str("TCP") or "TCP"
    p["protocol"].check(proto, v.protocol)
    pname = p["name"].str()
    if pname and p["name"].check(pname, v.port_name):
        if pname in names:
            p["name"].error(f'Duplicate value: "{pname}"')
        names.add(pname)
    host_port = p["hostPort"].int() or None  # 0 is unset
    if host_port is not None:
        p["hostPort"].check(host_port, v.port_number)
        if host_network and number is not None and host_port != number:
            p["hostPort"].error(
                f"Invalid value: {host_port}: must match `containerPort` when `hostNetwork` is true"
            )
    if number is None:
        return None
    return ContainerPort(number, proto, pname, host_port, container)


def _tolerations(items: Field) -> list[Toleration]:
    tolerations = []
    for t in items.objects():
        op = t["operator"].str("Equal") or "Equal"
        if op not in ("Equal", "Exists"):
            t["operator"].error(f'Unsupported value: "{op}": supported values: "Equal", "Exists"')
        tolerations.append(Toleration(t["key"].str(), op, t["value"].str(), t["effect"].str()))
    return tolerations


def _required_node_affinity(node_affinity: Field) -> list[NodeSelectorTerm]:
    """requiredDuringSchedulingIgnoredDuringExecution: its terms, ORed, validated as the API
    server's ValidateNodeSelector does."""
    required = node_affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    if not required.present:
        return []
    terms = required["nodeSelectorTerms"]
    if not terms.items():
        terms.error("Required value: must have at least one node selector term")
    affinity = []
    for term in terms.objects():
        exprs = [_node_selector_requirement(e) for e in term["matchExpressions"].objects()]
        fields = [_node_field_requirement(e) for e in term["matchFields"].objects()]
        affinity.append(NodeSelectorTerm(LabelSelector.of({}, *exprs), tuple(fields)))
    return affinity


def _node_selector_requirement(e: Field) -> Requirement:
    """A matchExpressions entry of a node selector term: label operators and Gt/Lt."""
    key = e["key"].str(required=True)
    if key:
        e["key"].check(key, v.qualified_name)
    op = e["operator"].str(required=True)
    values = tuple(e["values"].strings())
    if op and op not in (*OPERATORS, "Gt", "Lt"):
        e["operator"].error(f'Unsupported value: "{op}"')
    elif op in ("In", "NotIn") and not values:
        e["values"].error("Required value: must be specified when `operator` is 'In' or 'NotIn'")
    elif op in ("Exists", "DoesNotExist") and values:
        e["values"].error(
            "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
        )
    elif op in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit()):
        e["values"].error("Required value: must be specified single integer value")
    return Requirement(key or "", op or "", values)


def _node_field_requirement(e: Field) -> Requirement:
    """A matchFields entry: the API accepts only metadata.name, with In or NotIn and one value
    (the DaemonSet controller writes one to bind its pods to a node)."""
    key = e["key"].str(required=True)
    if key and key != "metadata.name":
        e["key"].error(f'Invalid value: "{key}": not a valid field selector key')
    op = e["operator"].str(required=True)
    values = tuple(e["values"].strings())
    if op and op not in ("In", "NotIn"):
        e["operator"].error(f'Invalid value: "{op}": not a valid selector operator')
    elif op and len(values) != 1:
        e["values"].error(
            "Required value: must be only one value when `operator` is 'In' or 'NotIn' for"
            " node field selector"
        )
    return Requirement(key or "", op or "", values)


def _pod_affinity(f: Field) -> tuple[PodAffinityTerm, ...]:
    """The required terms of podAffinity or podAntiAffinity. Preferred terms are validated as the
    API server does, then left out: they only rank nodes."""
    for w in f["preferredDuringSchedulingIgnoredDuringExecution"].objects():
        weight = w["weight"].int(required=True)
        if weight is not None and not 1 <= weight <= 100:
            w["weight"].error(f"Invalid value: {weight}: must be in the range 1-100")
        _pod_affinity_term(w["podAffinityTerm"])
    required = f["requiredDuringSchedulingIgnoredDuringExecution"].objects()
    return tuple(_pod_affinity_term(t) for t in required)


def _optional_selector(f: Field) -> LabelSelector | None:
    """A selector that may be absent, which differs from the empty one (it selects nothing)."""
    return label_selector(f) if f.present else None


def _label_keys(f: Field, selector: LabelSelector | None) -> tuple[str, ...]:
    """matchLabelKeys or mismatchLabelKeys: label names, only beside a labelSelector."""
    items = f.string_items()
    if items and selector is None:
        f.error("Forbidden: must not be specified when labelSelector is not set")
    for item, key in items:
        item.check(key, v.qualified_name)
    return tuple(key for _, key in items)


def _topology_key(f: Field) -> str:
    if f.value in (None, ""):
        f.error("Required value: can not be empty")
    return f.str()


def _pod_affinity_term(f: Field) -> PodAffinityTerm:
    selector = _optional_selector(f["labelSelector"])
    namespace_selector = _optional_selector(f["namespaceSelector"])
    namespaces = f["namespaces"].string_items()
    for item, name in namespaces:
        item.check(name, v.dns1123_label)
    match_keys = _label_keys(f["matchLabelKeys"], selector)
    mismatch_keys = _label_keys(f["mismatchLabelKeys"], selector)
    for item, key in f["matchLabelKeys"].string_items():
        if key in mismatch_keys:
            item.error(
                f"Invalid value: {quote(key)}: exists in both matchLabelKeys and mismatchLabelKeys"
            )
    topology_key = _topology_key(f["topologyKey"])
    if topology_key:
        f["topologyKey"].check(topology_key, v.qualified_name)
    return PodAffinityTerm(
        selector,
        topology_key,
        tuple(name for _, name in namespaces),
        namespace_selector,
        match_keys,
        mismatch_keys,
    )


WHEN_UNSATISFIABLE = ("DoNotSchedule", "ScheduleAnyway")
NODE_INCLUSION_POLICIES = ("Honor", "Ignore")


def _topology_spread_constraints(f: Field) -> tuple[TopologySpreadConstraint, ...]:
    """spec.topologySpreadConstraints, validated as the API server does."""
    out: list[TopologySpreadConstraint] = []
    for c in f.objects():
        max_skew = c["maxSkew"].int()
        if max_skew is not None or not c["maxSkew"].present:  # absent reads as 0, as int32 does
            max_skew = max_skew or 0
            if max_skew <= 0:
                c["maxSkew"].error(f"Invalid value: {max_skew}: must be greater than zero")
        topology_key = _topology_key(c["topologyKey"])
        when = c["whenUnsatisfiable"].str()
        if when not in WHEN_UNSATISFIABLE:
            c["whenUnsatisfiable"].error(
                f"Unsupported value: {quote(when)}: supported values: "
                + ", ".join(quote(w) for w in WHEN_UNSATISFIABLE)
            )
        min_domains = c["minDomains"].int()
        if min_domains is not None and min_domains <= 0:
            c["minDomains"].error(f"Invalid value: {min_domains}: must be greater than zero")
        if min_domains is not None and when != "DoNotSchedule":
            c["minDomains"].error(
                f"Invalid value: {min_domains}: can only use minDomains if"
                f" whenUnsatisfiable=DoNotSchedule, not {when}"
            )
        policies = [
            c[name].choice(NODE_INCLUSION_POLICIES, default)
            for name, default in (("nodeAffinityPolicy", "Honor"), ("nodeTaintsPolicy", "Ignore"))
        ]
        selector = _optional_selector(c["labelSelector"])
        out.append(
            TopologySpreadConstraint(
                max_skew or 0,
                topology_key,
                when,
                selector,
                min_domains,
                policies[0],
                policies[1],
                _label_keys(c["matchLabelKeys"], selector),
            )
        )
    # {topologyKey, whenUnsatisfiable} names one constraint: upstream names the one repeated later
    pairs = [(c.topology_key, c.when_unsatisfiable) for c in out]
    for i, (c, pair) in enumerate(zip(f.objects(), pairs, strict=True)):
        if pair in pairs[i + 1 :]:
            c["{topologyKey, whenUnsatisfiable}"].error(
                f'Duplicate value: "{{{pair[0]}, {pair[1]}}}"'
            )
    return tuple(out)


DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")


def _dns_policy(spec: Field) -> str:
    policy = spec["dnsPolicy"].str("ClusterFirst") or "ClusterFirst"
    if policy not in DNS_POLICIES:
        spec["dnsPolicy"].error(
            f'Unsupported value: "{policy}": supported values: '
            + ", ".join(f'"{p}"' for p in DNS_POLICIES)
        )
        return "ClusterFirst"
    if policy == "None" and not spec["dnsConfig"].present:
        spec["dnsConfig"].error("Required value: must provide `dnsConfig` when `dnsPolicy` is None")
    return policy


def _dns_config(f: Field) -> PodDNSConfig | None:
    """spec.dnsConfig, with the API server's limits (3 nameservers, 32 search domains)."""
    if not f.present or not f.is_map():
        return None
    servers = f["nameservers"].strings()
    if len(servers) > 3:
        f["nameservers"].error("Invalid value: must not have more than 3 nameservers")
    for i, ns in enumerate(servers):
        if v.parse_ip(ns) is None:
            f["nameservers"].items()[i].error(f"Invalid value: {ns!r}: must be valid IP address")
    searches = f["searches"].strings()
    if len(searches) > 32:
        f["searches"].error("Invalid value: must not have more than 32 search paths")
    for i, domain in enumerate(searches):
        if domain != "." and v.dns1123_subdomain(domain.rstrip(".")):
            f["searches"].items()[i].error(f"Invalid value: {domain!r}: must be a DNS subdomain")
    options = []
    for o in f["options"].items():
        name = o["name"].str(required=True)
        value = o["value"].str() if o["value"].present else None
        options.append((name, value))
    return PodDNSConfig(tuple(servers), tuple(searches), tuple(options))


def _pod(spec: Field, name: str, namespace: str, labels: dict[str, str], origin: Origin) -> Pod:
    if not spec.present:
        spec.error("Required value")
    return pod_from_spec(spec, name, namespace, labels, origin)


def _pod_status(obj: Field, pod: Pod) -> Pod:
    status = obj["status"]
    given = [ip["ip"] for ip in status["podIPs"].objects()] or (
        [status["podIP"]] if status["podIP"].present else []
    )
    ips = []
    for f in given:
        if not f.present:
            continue
        text = f.str()
        ip = v.parse_ip(text)
        if ip is None:
            f.error(f"Invalid value: {quote(f.value)}: must be a valid IP address")
        elif all(ip.version != o.version for o in ips):
            ips.append(ip)
    ready = True
    for c in status["conditions"].items():
        if c["type"].str() == "Ready":
            ready = c["status"].str() == "True"
    phase = status["phase"].str("Running") or "Running"
    deletion = obj["metadata"]["deletionTimestamp"].value
    owners = [
        f"{o['kind'].value}/{o['name'].value}"
        for o in obj["metadata"]["ownerReferences"].items()
        if o["controller"].value is True
    ]
    return replace(
        pod,
        ips=tuple(ips),
        ready=ready and phase == "Running",
        phase=phase,
        deletion_timestamp="" if deletion is None else str(deletion),
        owner=owners[0] if owners else "",
    )


# workloads ----------------------------------------------------------------------------------------


def _controller_selector(f: Field, labels: dict[str, str], template: Field) -> LabelSelector:
    """A ReplicationController's selector: a plain label map, the template's labels by default."""
    if not f.present:
        if not labels:
            template["metadata"]["labels"].error("Required value")
        return LabelSelector.of(labels)
    selector = LabelSelector.of(_labels(f))
    if not selector.matches(labels):
        template["metadata"]["labels"].error(
            "Invalid value: `selector` does not match template `labels`"
        )
    return selector


def _workload(obj: Field, kind: str, name: str, namespace: str, origin: Origin) -> Workload | None:
    spec = obj["spec"]
    if kind == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec["template"]
    if not template.present:
        template.error("Required value")
        return None
    tmeta = template["metadata"]
    labels = _labels(tmeta["labels"])
    selector = None
    if kind == "ReplicationController":
        selector = _controller_selector(spec["selector"], labels, template)
    elif (
        kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet") or spec["selector"].present
    ):
        if not spec["selector"].present and kind != "Job":
            spec["selector"].error("Required value")
        before = len(obj.ctx.problems)
        selector = label_selector(spec["selector"])
        # as upstream, an invalid selector is not compared with the template's labels
        checked = spec["selector"].present and len(obj.ctx.problems) == before
        if checked and selector.is_empty and kind != "Job":
            spec["selector"].error(f"Invalid value: empty selector is invalid for {kind.lower()}")
        elif checked and not selector.matches(labels):
            template["metadata"]["labels"].error(
                "Invalid value: `selector` does not match template `labels`"
            )
    if kind in ("Job", "CronJob"):
        replicas = spec["parallelism"].int(1)
        completions = spec["completions"].int()
        if replicas is not None and completions is not None:
            replicas = min(replicas, completions)
    elif kind == "DaemonSet":
        replicas = 0  # one per eligible node, decided at scheduling
    else:
        replicas = spec["replicas"].int(1)
    count = spec["parallelism" if kind in ("Job", "CronJob") else "replicas"]
    if replicas is not None and replicas < 0:
        count.error(f"Invalid value: {replicas}: must be greater than or equal to 0")
        replicas = 0
    elif replicas is not None and replicas > MAX_REPLICAS:
        count.error(f"Invalid value: {replicas}: podnet models at most {MAX_REPLICAS} pods")
        replicas = 0
    pod = pod_from_spec(template["spec"], "", namespace, labels, origin, owner=f"{kind}/{name}")
    return Workload(
        kind=kind,
        name=name,
        namespace=namespace,
        template=pod,
        raw_template=template.value,
        replicas=replicas or 0,
        selector=selector,
        uid=obj["metadata"]["uid"].str(),
        origin=origin,
        service_name=spec["serviceName"].str() if kind == "StatefulSet" else "",
    )


# services -----------------------------------------------------------------------------------------

# NetworkPolicy ------------------------------------------------------------------------------------


def _network_policy(spec: Field, name: str, namespace: str, origin: Origin) -> NetworkPolicy:
    if not spec.present:
        spec.error("Required value")
    pod_selector = label_selector(spec["podSelector"])
    ingress = tuple(_rule(r, "from") for r in spec["ingress"].objects())
    egress = tuple(_rule(r, "to") for r in spec["egress"].objects())
    type_items = spec["policyTypes"].string_items()
    types = [t for _, t in type_items]
    if len(spec["policyTypes"].items()) > 2:
        spec["policyTypes"].error("Invalid value: may not specify more than two policyTypes")
    else:
        for f, t in type_items:
            if t not in POLICY_TYPES:
                f.error(f'Unsupported value: "{t}": supported values: "Egress", "Ingress"')
    if not spec["policyTypes"].items():  # API defaulting: Egress only with a non-empty egress list
        types = [PolicyType.Ingress] + ([PolicyType.Egress] if egress else [])
    policy_types = tuple(t for t in POLICY_TYPES if t in types)
    return NetworkPolicy(name, namespace, pod_selector, policy_types, ingress, egress, origin)


_POINTED = ("ipBlock", "port")  # the fields of a peer or port entry that lint points at


def _policy_lines(lines: dict[FieldPath, int]) -> dict[FieldPath, int]:
    """The lines of the fields lint and explain point at (the podSelector, policyTypes, each rule,
    its `from`/`to` and `ports` and their items, an item's ipBlock or port), kept with the policy.
    Deeper fields (selector labels, `except` lists) fall back to these: the whole line map of
    every policy would take twice the memory, which a 2,000-policy cluster feels."""
    return {
        path: line
        for path, line in lines.items()
        if path[:1] == ("spec",) and (len(path) <= 5 or (len(path) == 6 and path[5] in _POINTED))
    }


def _rule(r: Field, peers_key: str) -> PolicyRule:
    peers = tuple(p for p in (_peer(f) for f in r[peers_key].objects()) if p is not None)
    ports = tuple(p for p in (_policy_port(f) for f in r["ports"].objects()) if p is not None)
    return PolicyRule(peers, ports)


def _peer(f: Field) -> PolicyPeer | None:
    pods = label_selector(f["podSelector"]) if f["podSelector"].present else None
    namespaces = label_selector(f["namespaceSelector"]) if f["namespaceSelector"].present else None
    block = _ip_block(f["ipBlock"]) if f["ipBlock"].present else None
    given = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if f[k].present]
    if not given:
        f.error("Required value: must specify a peer")
        return None
    if "ipBlock" in given and len(given) > 1:
        f.error("Forbidden: may not specify both ipBlock and another peer")
        return None
    if "ipBlock" in given:
        return None if block is None else PolicyPeer(ip_block=block)
    return PolicyPeer(pod_selector=pods, namespace_selector=namespaces)


def _ip_block(f: Field) -> IPBlock | None:
    if not f.is_map():
        return None
    text = f["cidr"].str(required=True)
    if not text:
        return None
    cidr = v.parse_cidr(text)
    if cidr is None:
        f["cidr"].error(f'Invalid value: "{text}": must be a valid CIDR value, (e.g. 10.9.8.0/24)')
        return None
    excepts = []
    for ef, e in f["except"].string_items():
        net = v.parse_cidr(e)
        if net is None:
            ef.error(f'Invalid value: "{e}": must be a valid CIDR value, (e.g. 10.9.8.0/24)')
        elif (
            net.version != cidr.version
            or not net.subnet_of(cidr)  # type: ignore[arg-type]
            or net.prefixlen <= cidr.prefixlen
        ):
            ef.error(f'Invalid value: "{e}": must be a strict subset of `cidr`')
        else:
            excepts.append(net)
    return IPBlock(cidr, tuple(excepts))


def _policy_port(f: Field) -> PolicyPort | None:
    # protocol is a pointer upstream: absent defaults to TCP, an empty string is invalid
    proto = f["protocol"].str("TCP") if f["protocol"].present else "TCP"
    ok = f["protocol"].check(proto, v.protocol)
    port = f["port"].int_or_str()
    end_port = f["endPort"].int()
    if isinstance(port, int):
        ok &= f["port"].check(port, v.port_number)
    elif isinstance(port, str):
        ok &= f["port"].check(port, v.port_name)
    if end_port is not None:
        if port is None:
            f["endPort"].error("Required value: may not be specified when `port` is not specified")
            ok = False
        elif isinstance(port, str):
            f["endPort"].error("Invalid value: may not be specified when `port` is non-numeric")
            ok = False
        elif end_port < port:
            f["endPort"].error(f"Invalid value: {end_port}: must be >= port ({port})")
            ok = False
        else:
            ok &= f["endPort"].check(end_port, v.port_number)
    return PolicyPort(proto, port, end_port) if ok else None
