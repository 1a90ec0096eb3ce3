"""Malformed manifests never crash the loader: any input gives a Cluster or a ManifestError.

Structures are generated under the real keys (kinds, metadata, pod specs, workload templates,
NetworkPolicy rules, peers and ports, ClusterNetwork settings) with values of random types, and
also as random text, YAML and JSON. Through the command line, YAML written with the YAML 1.1
quirks kubectl accepts loads as kubectl reads it, and any input exits 0 or 2, never a traceback.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podnet.errors import ManifestError
from podnet.model.cluster import Cluster, cluster_from_text
from tests.cli import run

KINDS = (
    "Namespace",
    "Node",
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Service",
    "EndpointSlice",
    "NetworkPolicy",
    "ClusterNetwork",
    "Cluster",
    "List",
    "ConfigMap",
)
API_VERSIONS = (
    "v1",
    "apps/v1",
    "batch/v1",
    "networking.k8s.io/v1",
    "discovery.k8s.io/v1",
    "podnet.io/v1alpha1",
    "kind.x-k8s.io/v1alpha4",
    "cluster.x-k8s.io/v1beta1",
    "",
)
WORDS = (
    "",
    "a",
    "web",
    "x",
    "default",
    "TCP",
    "UDP",
    "SCTP",
    "ICMP",
    "http",
    "a--b",
    "-a",
    "123",
    "In",
    "NotIn",
    "Exists",
    "DoesNotExist",
    "Gt",
    "Ingress",
    "Egress",
    "10.0.0.0/8",
    "10.244.0.0/16",
    "10.244.0.5",
    "10.244.1.0/24",
    "fd00::/64",
    "fd00:10:244::/56",
    "10.244.0.0/16,fd00:10:244::/56",
    "0.0.0.0/0",
    "::/0",
    "10.0.0.1/33",
    "node-1",
    "node-2",
    "kubernetes.io/hostname",
    "app",
    "NoSchedule",
    "control-plane",
    "worker",
    "dual",
    "host-gw",
    "vxlan",
    "None",
    "Running",
    "Succeeded",
    "InternalIP",
    "example.com/app",
    "UPPER",
    "a b",
    "2024-02-30",
)

ints = st.sampled_from(
    (-1, 0, 1, 2, 3, 24, 30, 32, 64, 80, 128, 65535, 65536, 2**31)
) | st.integers(-3, 5)
scalars = (
    st.none()
    | st.booleans()
    | ints
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.sampled_from(WORDS)
    | st.text(max_size=8)
)
API_VERSION = {
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "EndpointSlice": "discovery.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "ClusterNetwork": "podnet.io/v1alpha1",
    "Cluster": "kind.x-k8s.io/v1alpha4",
}
KEYS = (
    "name",
    "namespace",
    "labels",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "podSelector",
    "namespaceSelector",
    "ipBlock",
    "cidr",
    "except",
    "port",
    "endPort",
    "protocol",
    "ports",
    "from",
    "to",
    "ingress",
    "egress",
    "policyTypes",
    "containers",
    "containerPort",
    "hostPort",
    "nodeName",
    "nodeSelector",
    "hostNetwork",
    "tolerations",
    "effect",
    "selector",
    "template",
    "metadata",
    "spec",
    "items",
    "podIP",
    "podIPs",
    "ip",
)
keys = st.sampled_from(KEYS) | st.text(max_size=4) | st.integers(0, 2) | st.booleans()

anything = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=10,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the well-shaped value, sometimes anything at all."""
    return st.integers(0, 9).flatmap(lambda i: anything if i == 0 else strategy)


def objects(
    required: dict[str, st.SearchStrategy[Any]] | None = None, **fields: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict]:
    """A map with the required fields and any subset of the others, each well-shaped or not."""
    return st.fixed_dictionaries(
        {k: maybe(v) for k, v in (required or {}).items()},
        optional={k: maybe(v) for k, v in fields.items()},
    )


words = st.sampled_from(WORDS)


def pick(*good: Any) -> st.SearchStrategy[Any]:
    """Mostly one of the valid values, sometimes any word."""
    return st.integers(0, 9).flatmap(lambda i: words if i == 0 else st.sampled_from(good))


names = pick("a", "b", "web", "db", "x")
label_map = st.dictionaries(
    pick("app", "tier", "example.com/app") | st.integers(0, 2), pick("web", "db", ""), max_size=2
)
requirement = objects(
    key=pick("app", "tier"),
    operator=pick("In", "NotIn", "Exists", "DoesNotExist"),
    values=st.lists(pick("web", "db"), max_size=2),
)
selector = objects(matchLabels=label_map, matchExpressions=st.lists(requirement, max_size=2))
cidr = pick("10.0.0.0/8", "10.244.0.0/16", "10.244.1.0/24", "0.0.0.0/0", "fd00::/64", "::/0")
ip_block = objects(
    cidr=cidr, **{"except": st.lists(pick("10.244.1.0/24", "10.1.0.0/16", "fd00::/96"), max_size=2)}
)
peer = objects(podSelector=selector, namespaceSelector=selector, ipBlock=ip_block)
port_number = st.sampled_from((53, 80, 443, 8080)) | ints
policy_port = objects(
    protocol=pick("TCP", "UDP", "SCTP"), port=port_number | pick("http", "dns"), endPort=port_number
)
rule_from = objects(
    **{"from": st.lists(peer, max_size=2), "ports": st.lists(policy_port, max_size=2)}
)
rule_to = objects(to=st.lists(peer, max_size=2), ports=st.lists(policy_port, max_size=2))
policy_spec = objects(
    podSelector=selector,
    ingress=st.lists(rule_from | st.none(), max_size=2),
    egress=st.lists(rule_to | st.none(), max_size=2),
    policyTypes=st.lists(pick("Ingress", "Egress"), max_size=3),
)
container_port = objects(
    containerPort=port_number,
    name=pick("http", "dns", "metrics"),
    protocol=pick("TCP", "UDP", "SCTP"),
    hostPort=ints,
)
container = objects(name=names, ports=st.lists(container_port, max_size=2))
toleration = objects(
    key=pick("gpu"), operator=pick("Exists", "Equal"), value=words, effect=pick("NoSchedule")
)
pod_spec = st.fixed_dictionaries(
    {"containers": maybe(st.lists(container, min_size=1, max_size=2))},
    optional={
        "nodeName": maybe(pick("node-1", "node-2", "edge")),
        "nodeSelector": maybe(label_map),
        "hostNetwork": maybe(st.booleans()),
        "tolerations": maybe(st.lists(toleration, max_size=1)),
    },
)
metadata = objects({"name": names}, namespace=pick("default", "x", "y"), labels=label_map)
template = objects({"metadata": objects({"labels": label_map}), "spec": pod_spec})
replicas = st.integers(-1, 4)  # bounded: large counts only test patience
workload_spec = objects(
    {"template": template, "selector": selector}, replicas=replicas, parallelism=replicas
)
cron_spec = objects({"jobTemplate": objects({"spec": workload_spec})})
node_spec = objects(
    podCIDR=pick("10.244.5.0/24", "10.244.0.0/24"),
    podCIDRs=st.lists(pick("10.244.6.0/24", "fd00:10:244:6::/64"), max_size=2),
    taints=st.lists(objects(key=pick("gpu"), effect=pick("NoSchedule", "NoExecute")), max_size=1),
)
pod_status = objects(
    podIP=pick("10.244.0.5", "10.244.1.9"),
    podIPs=st.lists(objects(ip=pick("10.244.0.5", "fd00:10:244::5")), max_size=2),
    phase=pick("Running", "Succeeded"),
)
service_spec = objects(
    selector=label_map,
    ports=st.lists(
        objects(port=port_number, targetPort=port_number | pick("http"), name=pick("http", "dns")),
        max_size=2,
    ),
    clusterIP=pick("10.96.0.20", "None"),
    type=pick("ClusterIP", "NodePort"),
)
config_spec = objects(
    podSubnet=pick("10.244.0.0/16", "10.244.0.0/16,fd00:10:244::/56", "10.100.0.0/20"),
    serviceSubnet=pick("10.96.0.0/12"),
    nodeSubnet=pick("172.18.0.0/16", "192.168.0.0/29"),
    nodeCIDRMaskSize=st.sampled_from((24, 25, 28, 30)) | ints,
    nodeCIDRMaskSizeIPv6=st.sampled_from((64, 120)) | ints,
    backend=pick("host-gw", "vxlan"),
    serviceNodePortRange=pick("30000-32767"),
    kubeProxyMode=pick("nftables", "iptables", "ipvs"),
    ipvs=objects(
        scheduler=pick("rr", "sh", ""),
        strictARP=st.booleans(),
        tcpTimeout=pick("900s", "0", "-1s", "15"),
        excludeCIDRs=pick(["10.0.0.0/8"], "10.0.0.0/8,fd00::/8"),
    ),
    nodes=st.lists(
        objects(name=pick("node-1", "node-2", "node-3"), ip=pick("172.18.0.9"), labels=label_map),
        max_size=3,
    ),
)
kind_networking = objects(
    ipFamily=pick("ipv4", "ipv6", "dual"),
    podSubnet=cidr,
    kubeProxyMode=pick("iptables", "nftables", "ipvs"),
)
SPECS = {
    "Pod": pod_spec,
    "Node": node_spec,
    "NetworkPolicy": policy_spec,
    "Service": service_spec,
    "CronJob": cron_spec,
    "ClusterNetwork": config_spec,
}


@st.composite
def manifest(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    version = draw(st.sampled_from((*([API_VERSION.get(kind, "v1")] * 6), *API_VERSIONS)))
    doc: dict[str, Any] = {"apiVersion": version, "kind": kind}
    if draw(st.integers(0, 19)) == 0:  # sometimes the envelope itself is wrong
        doc[draw(st.sampled_from(("apiVersion", "kind")))] = draw(anything)
    doc["metadata"] = draw(maybe(metadata))
    spec = SPECS.get(kind, workload_spec)
    if kind == "Cluster":
        doc["networking"] = draw(maybe(kind_networking))
        doc["nodes"] = draw(maybe(st.lists(objects(role=words, labels=label_map), max_size=3)))
    elif kind == "List":
        doc["items"] = draw(st.lists(manifest(), max_size=2) | anything)
    elif draw(st.integers(0, 9)):
        doc["spec"] = draw(maybe(spec))
    if kind == "Pod" and draw(st.booleans()):
        doc["status"] = draw(maybe(pod_status))
    return doc


def _loads(text: str) -> None:
    try:
        result = cluster_from_text(text, "fuzz.yaml")
    except ManifestError as err:
        assert err.problems, "a ManifestError names at least one problem"
        for p in err.problems:
            assert p.file == "fuzz.yaml" and p.message
            assert str(p).startswith("fuzz.yaml")
        return
    assert isinstance(result, Cluster)


FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(manifest(), min_size=1, max_size=4))
def test_manifest_structures(docs: list[dict[str, Any]]) -> None:
    _loads(yaml.safe_dump_all(docs))


@settings(max_examples=150, deadline=None)
@given(st.lists(manifest(), min_size=1, max_size=3))
def test_manifest_structures_as_json(docs: list[dict[str, Any]]) -> None:
    _loads("\n".join(json.dumps(d) for d in docs))


def _base() -> list[dict[str, Any]]:
    """A valid cluster touching every kind and most fields, for the mutation fuzzer."""
    ports = [
        {"name": "http", "containerPort": 80},
        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
    ]
    tpl = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx", "ports": ports}]},
    }
    sel = {"matchLabels": {"app": "web"}}
    return [
        {
            "apiVersion": "podnet.io/v1alpha1",
            "kind": "ClusterNetwork",
            "metadata": {"name": "fuzz"},
            "spec": {
                "podSubnet": "10.244.0.0/16,fd00:10:244::/56",
                "nodeCIDRMaskSize": 24,
                "nodes": [{"name": "node-1", "labels": {"disk": "ssd"}}, {"name": "node-2"}],
            },
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labels": {"t": "a"}}},
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "a", "namespace": "x", "labels": {"app": "web"}},
            "spec": {
                "nodeName": "node-1",
                "tolerations": [{"key": "gpu", "operator": "Exists"}],
                "nodeSelector": {"disk": "ssd"},
                "containers": [{"name": "c", "ports": ports}],
            },
            "status": {"podIP": "10.244.0.9", "podIPs": [{"ip": "10.244.0.9"}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "x"},
            "spec": {"replicas": 2, "selector": sel, "template": tpl},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "x"},
            "spec": {"replicas": 2, "serviceName": "db", "selector": sel, "template": tpl},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "x"},
            "spec": {"selector": sel, "template": tpl},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "report", "namespace": "x"},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": tpl}}},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "x"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "x"},
            "spec": {
                "podSelector": {
                    "matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]
                },
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"t": "a"}}, "podSelector": sel},
                            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                        ],
                        "ports": [
                            {"port": "http"},
                            {"port": 8000, "endPort": 8080, "protocol": "TCP"},
                        ],
                    }
                ],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "fd00::/8"}}],
                        "ports": [{"protocol": "UDP", "port": 53}],
                    }
                ],
            },
        },
    ]


BASE = _base()


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


PATHS = [p for p in _paths(BASE) if len(p) > 1]


def _mutate(docs: list[Any], path: tuple, action: str, value: Any) -> None:
    parent = docs
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete" and isinstance(parent, dict):
        parent.pop(last, None)
    elif action == "delete":
        parent[last] = None
    else:
        parent[last] = value


mutation = st.tuples(
    st.sampled_from(PATHS), st.sampled_from(("delete", "set", "set")), anything | scalars
)


@settings(max_examples=400, deadline=None)
@given(st.lists(mutation, min_size=1, max_size=3))
def test_mutated_valid_cluster(mutations: list[tuple[tuple, str, Any]]) -> None:
    docs = copy.deepcopy(BASE)
    for path, action, value in mutations:
        try:
            _mutate(docs, path, action, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the parent
    _loads(yaml.safe_dump_all(docs))


def test_base_cluster_is_valid() -> None:
    cluster = cluster_from_text(yaml.safe_dump_all(BASE))
    declared = [p for p in cluster.pods if p.namespace != "kube-system"]
    assert len(declared) == 8 and len(cluster.policies) == 1


YAML_PIECES = (
    "---\n",
    "apiVersion: v1\n",
    "kind: Pod\n",
    "kind: NetworkPolicy\n",
    "metadata:\n",
    "  name: a\n",
    "spec:\n",
    "  podSelector: {}\n",
    "  ingress:\n",
    "  - ports:\n",
    "    - port: 80\n",
    "      endPort: 79\n",
    "- a\n",
    "  - b\n",
    "key: [unclosed\n",
    "&a x: *a\n",
    "x: &b [*b]\n",
    "!!binary AAA\n",
    "\t\n",
    '{"kind": "Pod"}\n',
    "? complex\n: key\n",
    "...\n",
    "%YAML 1.1\n",
    "date: 2024-02-30\n",
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=12) | st.text(max_size=200))
def test_random_text(text: str | list[str]) -> None:
    _loads(text if isinstance(text, str) else "".join(text))


# YAML as kubectl reads it, through the command line. kubectl reads YAML 1.1 with go-yaml: a
# document written with its quirks (unquoted `=`, dates and times, Go integer literals, yes/no/
# on/off, `~`, anchors, aliases and merge keys) must load as the same objects written plainly.


@dataclass(frozen=True)
class Raw:
    """A scalar written exactly so, unquoted where YAML allows: `=`, `0o120`, `2024-01-01`."""

    text: str


class QuirkDumper(yaml.SafeDumper):
    """The safe dumper, writing Raw scalars as they are."""


def _represent_raw(dumper: yaml.SafeDumper, raw: Raw) -> yaml.ScalarNode:
    # the tag PyYAML would read the text as: then the emitter writes it plain, without a tag
    return dumper.represent_scalar(
        dumper.resolve(yaml.ScalarNode, raw.text, (True, False)), raw.text
    )


QuirkDumper.add_representer(Raw, _represent_raw)


@st.composite
def go_int(draw: st.DrawFn, value: int) -> Raw:
    """`value` as one of the integer literals go-yaml reads (Go's, with `_` anywhere)."""
    forms = [str(value), f"+{value}", hex(value), hex(value).upper().replace("X", "x")]
    forms += [f"0o{value:o}", f"0{value:o}", f"0b{value:b}"]
    text = draw(st.sampled_from(forms))
    if draw(st.booleans()) and len(text) > 2:
        at = draw(st.integers(1, len(text) - 1))
        text = text[:at] + "_" + text[at:]
    return Raw(text)


# strings PyYAML 1.1 reads as something else (a date, a base-60 number, the `value` tag)
STRING_QUIRKS = ("=", "2024-02-30", "2001-12-14t21:59:43.10-05:00", "1:20", "12:30:00", "0o8")
DATE_LABELS = ("2024-01-01", "2001-12-14")  # valid label values that PyYAML reads as dates
FALSE = ("false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF")
TRUE = ("true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON")
NULL = ("~", "null", "Null", "NULL")


@st.composite
def quirky_cluster(draw: st.DrawFn) -> tuple[list[Any], list[Any]]:
    """A valid cluster twice: written with YAML 1.1 quirks, and as the objects it means."""
    quirky: list[Any] = []
    plain: list[Any] = []
    release = draw(st.sampled_from(DATE_LABELS))
    ns_labels = {"team": "a", "release": release}
    quirky.append(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"team": "a", "release": Raw(release)}},
        }
    )
    plain.append(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": ns_labels}}
    )
    names = draw(
        st.lists(
            st.sampled_from(("web", "api", "db", "cache")), min_size=1, max_size=3, unique=True
        )
    )
    for name in names:
        port = draw(st.sampled_from((80, 443, 5432, 6379, 8080, 9090)))
        tier = draw(st.sampled_from(("front", "back", *DATE_LABELS)))
        replicas = draw(st.integers(1, 2))
        note = draw(st.sampled_from(STRING_QUIRKS))
        null = draw(st.sampled_from(NULL))
        labels = {"app": name, "tier": Raw(tier)}  # one object: an anchor, then aliases
        want_labels = {"app": name, "tier": tier}
        quirky.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": name,
                    "namespace": "shop",
                    "labels": {Raw("<<"): labels, "tier": "override"},
                    "annotations": {"note": Raw(note), "empty": Raw(null)},
                },
                "spec": {
                    "replicas": draw(go_int(replicas)),
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "hostNetwork": Raw(draw(st.sampled_from(FALSE))),
                            "automountServiceAccountToken": Raw(
                                draw(st.sampled_from(TRUE + FALSE))
                            ),
                            "nodeSelector": Raw(draw(st.sampled_from(NULL))),
                            "containers": [
                                {"name": "c", "ports": [{"containerPort": draw(go_int(port))}]}
                            ],
                        },
                    },
                },
            }
        )
        auto = quirky[-1]["spec"]["template"]["spec"]["automountServiceAccountToken"].text
        plain.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": name,
                    "namespace": "shop",
                    "labels": {**want_labels, "tier": "override"},
                    "annotations": {"note": note, "empty": None},
                },
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": want_labels},
                    "template": {
                        "metadata": {"labels": want_labels},
                        "spec": {
                            "hostNetwork": False,
                            "automountServiceAccountToken": auto in TRUE,
                            "nodeSelector": None,
                            "containers": [{"name": "c", "ports": [{"containerPort": port}]}],
                        },
                    },
                },
            }
        )
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "shop"},
        }
        quirky.append(
            {
                **service,
                "spec": {
                    "selector": {"app": name},
                    "ports": [{"port": draw(go_int(port)), "targetPort": draw(go_int(port))}],
                },
            }
        )
        plain.append(
            {
                **service,
                "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": port}]},
            }
        )
        source = draw(st.sampled_from(("front", "back", *DATE_LABELS)))
        policy = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"to-{name}", "namespace": "shop"},
        }
        quirky.append(
            {
                **policy,
                "spec": {
                    "podSelector": {"matchLabels": {"app": name}},
                    "ingress": [
                        {
                            "from": [
                                {"podSelector": {"matchLabels": {"tier": Raw(source)}}},
                                {
                                    "namespaceSelector": {"matchLabels": {"release": Raw(release)}},
                                    "podSelector": {"matchLabels": {"tier": Raw(source)}},
                                },
                            ],
                            "ports": [{"port": draw(go_int(port))}],
                        }
                    ],
                },
            }
        )
        plain.append(
            {
                **policy,
                "spec": {
                    "podSelector": {"matchLabels": {"app": name}},
                    "ingress": [
                        {
                            "from": [
                                {"podSelector": {"matchLabels": {"tier": source}}},
                                {
                                    "namespaceSelector": {"matchLabels": {"release": release}},
                                    "podSelector": {"matchLabels": {"tier": source}},
                                },
                            ],
                            "ports": [{"port": port}],
                        }
                    ],
                },
            }
        )
    return quirky, plain


def _cli(capsys, monkeypatch, text: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """`podnet reach - -o json` on the text; exit 0 with JSON, or 2 with an error and no
    traceback: nothing else."""
    code, out, err = run(capsys, monkeypatch, "reach", "-", "-o", "json", stdin=text)
    assert "Traceback" not in err and "Traceback" not in out
    assert code in (0, 2), (code, err)
    if code == 0:
        json.loads(out)
    else:
        assert err.startswith("error: "), err
    return code, out, err


CLI_FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@CLI_FUZZ
@given(quirky_cluster())
def test_yaml_quirks_read_as_kubectl_reads_them(capsys, monkeypatch, docs) -> None:  # type: ignore[no-untyped-def]
    quirky, plain = docs
    text = yaml.dump_all(quirky, Dumper=QuirkDumper, sort_keys=False)
    plain_text = yaml.safe_dump_all(json.loads(json.dumps(plain)), sort_keys=False)
    code, out, err = _cli(capsys, monkeypatch, text)
    assert code == 0, err + text
    assert (code, out) == _cli(capsys, monkeypatch, plain_text)[:2]


QUIRKS = (
    *STRING_QUIRKS,
    *DATE_LABELS,
    *TRUE,
    *FALSE,
    *NULL,
    "<<",
    "0x1F",
    "0o17",
    "017",
    "1_000",
    "+80",
    "08",
    ".inf",
    "-.Inf",
    ".nan",
    "1e3",
    "y",
    "n",
)


@st.composite
def quirked(draw: st.DrawFn, value: Any) -> Any:
    """`value` with some leaves written as YAML 1.1 quirks or Go integer literals."""
    if isinstance(value, dict):
        return {k: draw(quirked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [draw(quirked(v)) for v in value]
    roll = draw(st.integers(0, 5))
    if roll == 0:
        return Raw(draw(st.sampled_from(QUIRKS)))
    if roll == 1 and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return draw(go_int(value))
    return value


@settings(CLI_FUZZ, max_examples=100)
@given(st.lists(manifest(), min_size=1, max_size=3).flatmap(quirked))
def test_quirky_manifests_load_or_fail_cleanly_through_the_cli(capsys, monkeypatch, docs) -> None:  # type: ignore[no-untyped-def]
    _cli(capsys, monkeypatch, yaml.dump_all(docs, Dumper=QuirkDumper, sort_keys=False))
