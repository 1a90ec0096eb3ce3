"""What a name typed on the command line stands for: the one reading of `--from`/`--to` (explain,
trace) and of reach's filters. Pure: it reads the resolved `Cluster` and never imports the
analyses above it.

Names are written as kubectl writes them, each with an optional `:port`:
- a pod: `ns/pod` (also `ns/pod/NAME`, `pod/NAME`);
- a workload: `ns/KIND/name`, KIND one of kubectl's names for Deployment, StatefulSet, DaemonSet,
  ReplicaSet, ReplicationController, Job and CronJob, singular, plural or short (`deploy`, `sts`,
  `ds`, `rs`, `rc`, `cj`); or `ns/name` when exactly one pod or workload of that namespace has
  that name (Services do not count: a Deployment and its Service often share a name);
- a Service: `ns/svc/name`, or `svc/name`;
- a node: its name (or `node/NAME`);
- `external`: the client on the nodes' network outside the cluster (model.topology);
- an IP address;
- a label selector in kubectl's syntax, `ns/app=web,tier!=db`, `ns/env in (a,b)`,
  `ns/env notin (a)`, `ns/app`, `ns/!canary`.
A name without a namespace is in `namespace` (kubectl's current namespace: "default" unless the
command is given another). A bare word that is no node is a pod or workload of that namespace,
or, where the caller takes DNS names (`trace --to`), a name for the pod's resolver.

A workload's pods are the pods it owns, as the controllers name owners: the Deployment's through
its ReplicaSet `name-<pod-template-hash>`, the CronJob's through its Job `name-<digits>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_address

from podnet.errors import InvalidValue, NotFound
from podnet.ipam.addresses import split_host_port
from podnet.model import validation as v
from podnet.model.cluster import Cluster
from podnet.model.objects import IPAddress, Node, Pod, Service
from podnet.model.parse import Workload
from podnet.model.selectors import LabelSelector, Requirement
from podnet.model.topology import EXTERNAL, external_client

# kubectl's names of each workload kind (`kubectl api-resources`): the first is the short one
# podnet prints.
WORKLOAD_NAMES: dict[str, tuple[str, ...]] = {
    "Deployment": ("deploy", "deployment", "deployments"),
    "StatefulSet": ("sts", "statefulset", "statefulsets"),
    "DaemonSet": ("ds", "daemonset", "daemonsets"),
    "ReplicaSet": ("rs", "replicaset", "replicasets"),
    "ReplicationController": ("rc", "replicationcontroller", "replicationcontrollers"),
    "Job": ("job", "jobs"),
    "CronJob": ("cronjob", "cj", "cronjobs"),
}
# kubectl's names of the other resources a name may start with (`get` lists them too): the
# plural first, as kubectl prints resource types.
POD_NAMES = ("pods", "pod", "po")
SERVICE_NAMES = ("services", "service", "svc")
NODE_NAMES = ("nodes", "node", "no")
_WORKLOAD_KIND = {word: kind for kind, words in WORKLOAD_NAMES.items() for word in words}
KIND_WORDS = frozenset({*_WORKLOAD_KIND, *POD_NAMES, *SERVICE_NAMES, *NODE_NAMES})

# A namespace is a DNS label: no dots, so `app.kubernetes.io/name=web` has none.
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SELECTOR_MARKS = re.compile(r"[=!(),]|\s(in|notin)\s")
_EQUALITY = re.compile(r"^([^\s=!]*)\s*(==|=|!=)\s*(\S*)$")
_SET = re.compile(r"^([^\s=!]+)\s+(in|notin)\s*\((.*)\)$")
# Names listed in an error: enough to spot a typo, not a page of pods.
LISTED = 20


class NameKind(StrEnum):
    pod = "pod"
    workload = "workload"
    service = "Service"
    node = "node"
    address = "address"
    selector = "selector"
    external = "external"
    dns = "DNS name"


@dataclass(frozen=True, slots=True)
class Named:
    """What one name stands for."""

    text: str  # as typed, port included
    kind: NameKind
    name: str  # as podnet prints it: `shop/x`, `shop/deploy/frontend`, `shop/svc/cart`, ...
    pods: tuple[Pod, ...] = ()  # the pods with an address it selects, sorted (a Service's too)
    service: Service | None = None
    node: Node | None = None
    address: IPAddress | None = None  # an address, or the external client's
    port: int | None = None  # given after the name

    @property
    def host(self) -> str:
        """The name without its port."""
        return self.text if self.port is None else split_host_port(self.text)[0]


class Ambiguous(InvalidValue):
    """A short name that several objects answer to; `candidates` names each as it can be typed."""

    def __init__(self, text: str, candidates: list[str]):
        self.candidates = tuple(candidates)
        why = f"is ambiguous: it names {', '.join(candidates)}; give one of those"
        super().__init__("name", text, why, message=f"{text!r} {why}")


def resolve(cluster: Cluster, text: str, namespace: str = "default", *, dns: bool = False) -> Named:
    """The object `text` names (see the module's docstring); `dns`: a bare word that is no node
    is a DNS name rather than a pod or workload of `namespace`. Raises NotFound, Ambiguous or
    InvalidValue, worded for the name alone (the caller adds the option)."""
    host, port = split_host_port(text)
    named = _resolve_host(cluster, text, host, namespace, dns)
    if named.kind in (NameKind.pod, NameKind.workload, NameKind.selector) and not named.pods:
        raise _no_pods(cluster, named)
    return Named(
        text, named.kind, named.name, named.pods, named.service, named.node, named.address, port
    )


def _resolve_host(cluster: Cluster, text: str, host: str, namespace: str, dns: bool) -> Named:
    if not host:
        raise InvalidValue("name", text, "is empty", message="an empty name")
    if any(n.name == host for n in cluster.nodes):
        return _node(text, cluster.node(host))
    if host == EXTERNAL:
        return Named(text, NameKind.external, EXTERNAL, address=external_client(cluster))
    try:
        ip = ip_address(host)
    except ValueError:
        pass
    else:
        return _address(cluster, text, ip)
    if _SELECTOR_MARKS.search(host):
        return _selector(cluster, text, host, namespace)
    parts = host.split("/")
    if len(parts) == 1:
        if dns:
            return Named(text, NameKind.dns, host)
        return _short(cluster, text, namespace, host, nodes=True)
    if len(parts) == 2:
        word, name = parts[0].lower(), parts[1]
        if word in KIND_WORDS and not _has_short(cluster, parts[0], name):
            return _typed(cluster, text, namespace, word, name)
        return _short(cluster, text, parts[0], name)
    if len(parts) == 3 and parts[1].lower() in KIND_WORDS - set(NODE_NAMES):
        return _typed(cluster, text, parts[0], parts[1].lower(), parts[2])
    why = (
        "is not a name podnet reads: give ns/pod, ns/KIND/name (deploy, sts, ds, rs, rc, job,"
        " cronjob), ns/svc/name, a node, an IP address or a selector such as ns/app=web"
    )
    raise InvalidValue("name", text, why, message=f"{text!r} {why}")


def _node(text: str, node: Node) -> Named:
    return Named(text, NameKind.node, node.name, node=node)


def _address(cluster: Cluster, text: str, ip: IPAddress) -> Named:
    pod, node = address_owner(cluster, ip)
    return Named(text, NameKind.address, str(ip), pods=(pod,) if pod else (), node=node, address=ip)


def address_owner(cluster: Cluster, ip: IPAddress) -> tuple[Pod | None, Node | None]:
    """The pod that owns an address (not host-network) and the node it lives on; else the node
    that has it; else neither (an address outside the cluster)."""
    for pod in cluster.running_pods:
        if ip in pod.ips and not pod.host_network:
            return pod, _node_of(cluster, pod)
    for node in cluster.nodes:
        if ip in node.ips:
            return None, node
    return None, None


def _node_of(cluster: Cluster, pod: Pod) -> Node | None:
    return next((n for n in cluster.nodes if n.name == pod.node_name), None)


# pods and workloads ------------------------------------------------------------------------------


def short_kind(kind: str) -> str:
    """The word podnet prints for a workload kind: kubectl's short name."""
    return WORKLOAD_NAMES[kind][0]


def workload_name(w: Workload) -> str:
    return f"{w.namespace}/{short_kind(w.kind)}/{w.name}"


def owned_by(pod: Pod, kind: str, name: str) -> bool:
    """Whether the workload `kind/name` of the pod's namespace created the pod, directly or
    through the ReplicaSet (Deployment) or Job (CronJob) it creates."""
    owner_kind, _, owner = pod.owner.partition("/")
    if (owner_kind, owner) == (kind, name):
        return True
    if kind == "Deployment" and owner_kind == "ReplicaSet":
        pod_hash = pod.labels.get("pod-template-hash")
        return bool(pod_hash) and owner == f"{name}-{pod_hash}"
    if kind == "CronJob" and owner_kind == "Job":
        head, _, tail = owner.rpartition("-")
        return head == name and tail.isdigit()
    return False


def workload_pods(cluster: Cluster, w: Workload) -> tuple[Pod, ...]:
    """Every pod of the workload, with an address or not."""
    return tuple(
        p for p in cluster.pods if p.namespace == w.namespace and owned_by(p, w.kind, w.name)
    )


def _workload(cluster: Cluster, text: str, w: Workload) -> Named:
    pods = tuple(p for p in workload_pods(cluster, w) if p.ips)
    return Named(text, NameKind.workload, workload_name(w), pods=pods)


def _pod(text: str, pod: Pod) -> Named:
    return Named(text, NameKind.pod, pod.key, pods=(pod,) if pod.ips else ())


def _has_short(cluster: Cluster, namespace: str, name: str) -> bool:
    """Whether `namespace/name` names a pod or workload, so that `svc/x` stays a name in a
    namespace called `svc` when one has it (kubectl's kind words win otherwise)."""
    return cluster.pod(f"{namespace}/{name}") is not None or any(
        w.namespace == namespace and w.name == name for w in cluster.workloads
    )


def _short(cluster: Cluster, text: str, namespace: str, name: str, nodes: bool = False) -> Named:
    """`ns/name`: the pod, or the one workload, of that name."""
    pod = cluster.pod(f"{namespace}/{name}")
    workloads = [w for w in cluster.workloads if w.namespace == namespace and w.name == name]
    candidates = ([pod.key] if pod else []) + [workload_name(w) for w in workloads]
    if len(candidates) > 1:
        raise Ambiguous(text, candidates)
    if pod is not None:
        return _pod(text, pod)
    if workloads:
        return _workload(cluster, text, workloads[0])
    raise _not_found(cluster, text, namespace, nodes)


def _typed(cluster: Cluster, text: str, namespace: str, word: str, name: str) -> Named:
    """`[ns/]KIND/name`."""
    if word in NODE_NAMES:
        return _node(text, cluster.node(name))
    if word in POD_NAMES:
        pod = cluster.pod(f"{namespace}/{name}")
        if pod is None:
            known = [p.name for p in cluster.pods if p.namespace == namespace]
            raise NotFound("pod", name, message=_none_in("pod", name, namespace, "pods", known))
        return _pod(text, pod)
    if word in SERVICE_NAMES:
        service = next(
            (s for s in cluster.services if (s.namespace, s.name) == (namespace, name)), None
        )
        if service is None:
            known = [s.name for s in cluster.services if s.namespace == namespace]
            raise NotFound(
                "Service", name, message=_none_in("Service", name, namespace, "Services", known)
            )
        return Named(
            text,
            NameKind.service,
            f"{namespace}/svc/{name}",
            pods=service_pods(cluster, service),
            service=service,
        )
    kind = _WORKLOAD_KIND[word]
    for w in cluster.workloads:
        if (w.kind, w.namespace, w.name) == (kind, namespace, name):
            return _workload(cluster, text, w)
    known = [w.name for w in cluster.workloads if (w.kind, w.namespace) == (kind, namespace)]
    raise NotFound(kind, name, message=_none_in(kind, name, namespace, f"{kind}s", known))


def service_pods(cluster: Cluster, service: Service) -> tuple[Pod, ...]:
    """The pods with an address the Service sends to: those its selector matches, or, without
    a selector, those its EndpointSlices name."""
    if service.selector is not None:
        selector = LabelSelector.of(service.selector)
        return tuple(
            p
            for p in cluster.running_pods
            if p.namespace == service.namespace and selector.matches(p.labels)
        )
    named = {
        e.target
        for s in cluster.endpoint_slices
        if (s.namespace, s.service_name) == (service.namespace, service.name)
        for e in s.endpoints
    }
    return tuple(p for p in cluster.running_pods if p.key in named)


# selectors ---------------------------------------------------------------------------------------


def _selector(cluster: Cluster, text: str, host: str, namespace: str) -> Named:
    head, sep, rest = host.partition("/")
    # `ns/key=value`, unless the part before the slash is a label key's prefix (it has a dot, or
    # no namespace has that name): `app.kubernetes.io/name=web`.
    if sep and _NAMESPACE.match(head) and head in cluster.namespaces:
        namespace, host = head, rest
    try:
        selector = parse_selector(host)
    except InvalidValue as err:
        raise InvalidValue("selector", text, err.why, message=f"{text!r} {err.why}") from None
    pods = tuple(
        p for p in cluster.running_pods if p.namespace == namespace and selector.matches(p.labels)
    )
    return Named(text, NameKind.selector, f"{namespace}/{selector}", pods=pods)


def parse_selector(text: str) -> LabelSelector:
    """kubectl's label selector syntax (`-l`): requirements separated by commas, each `k=v`,
    `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` or `!k`. Raises InvalidValue."""
    labels: dict[str, str] = {}
    exprs: list[Requirement] = []
    for part in _split_requirements(text):
        req = part.strip()
        if m := _SET.match(req):
            key, op, values = m[1], m[2], sorted({x.strip() for x in m[3].split(",")})
            _check_label(text, key, values)
            exprs.append(Requirement(key, "In" if op == "in" else "NotIn", tuple(values)))
        elif m := _EQUALITY.match(req):
            key, op, value = m[1], m[2], m[3]
            _check_label(text, key, [value])
            if op == "!=":
                exprs.append(Requirement(key, "NotIn", (value,)))
            elif labels.get(key, value) != value:
                exprs.append(Requirement(key, "In", (value,)))  # k=a,k=b: matches nothing
            else:
                labels[key] = value
        elif req.startswith("!"):
            _check_label(text, req[1:].strip(), [])
            exprs.append(Requirement(req[1:].strip(), "DoesNotExist"))
        else:
            _check_label(text, req, [])
            exprs.append(Requirement(req, "Exists"))
    return LabelSelector.of(labels, *exprs)


def _split_requirements(text: str) -> list[str]:
    """The requirements of a selector: its commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _check_label(text: str, key: str, values: list[str]) -> None:
    errs = v.qualified_name(key) if key else ["the key is empty"]
    errs += [m for value in values for m in v.label_value(value)]
    if errs:
        why = f"is not a label selector kubectl reads ({key!r}: {errs[0]})"
        raise InvalidValue("selector", text, why, message=f"{text!r} {why}")


# errors ------------------------------------------------------------------------------------------


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED]) or "none"
    return shown + (f", ... ({len(names) - LISTED} more)" if len(names) > LISTED else "")


def _none_in(kind: str, name: str, namespace: str, plural: str, known: list[str]) -> str:
    return f"no {kind} {name!r} in namespace {namespace} ({plural}: {_listing(sorted(known))})"


def _not_found(cluster: Cluster, text: str, namespace: str, nodes: bool) -> NotFound:
    pods = [p.name for p in cluster.pods if p.namespace == namespace]
    workloads = sorted(
        f"{short_kind(w.kind)}/{w.name}" for w in cluster.workloads if w.namespace == namespace
    )
    name = text.rpartition("/")[2]
    first = (
        f"no node {name!r}, nor a pod or workload of that name"
        if nodes
        else (f"no pod or workload {name!r}")
    )
    message = (
        f"{first} in namespace {namespace} (pods: {_listing(pods)};"
        f" workloads: {_listing(workloads)}"
    )
    if nodes:
        message += f"; nodes: {_listing([n.name for n in cluster.nodes])}"
    return NotFound("pod", name, message=message + ")")


def _no_pods(cluster: Cluster, named: Named) -> InvalidValue:
    """A pod, workload or selector with no pod on the pod network: why, as far as podnet knows."""
    if named.kind == NameKind.pod:
        why = "has no address (not scheduled, or finished)"
        return InvalidValue("pod", named.name, why, message=f"pod {named.name} {why}")
    if named.kind == NameKind.selector:
        namespace = named.name.partition("/")[0]
        why = f"selects no pod with an address in namespace {namespace}"
    else:
        namespace, short, name = named.name.split("/")
        kind = next(k for k, words in WORKLOAD_NAMES.items() if words[0] == short)
        pending = [p.key for p in cluster.pods if owned_by(p, kind, name) and not p.ips]
        pending = [k for k in pending if k.startswith(f"{namespace}/")]
        why = "has no pod with an address" + (
            f" ({len(pending)} pending: {_listing(pending)})" if pending else " (it has no pods)"
        )
    return InvalidValue(named.kind, named.name, why, message=f"{named.name} {why}")


def node_pods(cluster: Cluster, node: Node | None) -> tuple[Pod, ...]:
    """The pods with an address that run on `node`."""
    return tuple(p for p in cluster.running_pods if node is not None and p.node_name == node.name)
