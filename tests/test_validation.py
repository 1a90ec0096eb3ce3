"""API validation as the API server does it: each case is one object and the problems it must give
(field path and message text), or none when the API server accepts it.

Cases follow k8s.io/kubernetes pkg/apis/networking/validation (NetworkPolicy), pkg/apis/core and
apps validation (names, pods, workloads) and k8s.io/apimachinery validation (labels, selectors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from podnet.errors import ManifestError
from podnet.model.cluster import cluster_from_text
from tests.conftest import load, manifests, node, pod, policy, problems_of, workload

# (field path, text the message contains)
Expected = list[tuple[str, str]]


@dataclass
class Case:
    id: str
    obj: dict[str, Any]
    errors: Expected  # empty: valid


def ports(*entries: Any, direction: str = "ingress") -> dict:
    return {"podSelector": {}, direction: [{"ports": list(entries)}]}


def peers(*items: Any, direction: str = "ingress") -> dict:
    key = "from" if direction == "ingress" else "to"
    return {"podSelector": {}, direction: [{key: list(items)}]}


def block(cidr: Any, *excepts: Any) -> dict:
    b: dict[str, Any] = {"cidr": cidr}
    if excepts:
        b["except"] = list(excepts)
    return {"ipBlock": b}


def expr(key: str, operator: str, values: list | None = None) -> dict:
    e: dict[str, Any] = {"key": key, "operator": operator}
    if values is not None:
        e["values"] = values
    return {"podSelector": {"matchExpressions": [e]}}


P0 = "spec.ingress[0].ports[0]"
F0 = "spec.ingress[0].from[0]"
RANGE = "must be between 1 and 65535"
SVC_LETTER = "must contain at least one letter"
SVC_CHARS = "must contain only alpha-numeric characters"
NOT_SUBSET = "must be a strict subset of `cidr`"
BAD_CIDR = "must be a valid CIDR value"

NETWORK_POLICY = [
    # ports
    Case(
        "endPort without port",
        policy(ports({"endPort": 90})),
        [(f"{P0}.endPort", "may not be specified when `port` is not specified")],
    ),
    Case(
        "endPort with a named port",
        policy(ports({"port": "http", "endPort": 90})),
        [(f"{P0}.endPort", "may not be specified when `port` is non-numeric")],
    ),
    Case(
        "endPort < port",
        policy(ports({"port": 100, "endPort": 90})),
        [(f"{P0}.endPort", "must be >= port (100)")],
    ),
    Case("endPort == port", policy(ports({"port": 80, "endPort": 80})), []),
    Case("endPort range", policy(ports({"port": 32000, "endPort": 32768, "protocol": "UDP"})), []),
    Case(
        "endPort out of range",
        policy(ports({"port": 80, "endPort": 65536})),
        [(f"{P0}.endPort", RANGE)],
    ),
    Case(
        "protocol ICMP",
        policy(ports({"protocol": "ICMP", "port": 1})),
        [(f"{P0}.protocol", '"ICMP": supported values: "SCTP", "TCP", "UDP"')],
    ),
    Case(
        "protocol lowercase",
        policy(ports({"protocol": "tcp"})),
        [(f"{P0}.protocol", "supported values")],
    ),
    Case(
        "protocol empty string",
        policy(ports({"protocol": "", "port": 80})),
        [(f"{P0}.protocol", "supported values")],
    ),
    Case("protocol SCTP", policy(ports({"protocol": "SCTP", "port": 9999})), []),
    Case("protocol only: every port of it", policy(ports({"protocol": "UDP"})), []),
    Case("port 0", policy(ports({"port": 0})), [(f"{P0}.port", RANGE)]),
    Case("port 65536", policy(ports({"port": 65536})), [(f"{P0}.port", RANGE)]),
    Case("port -1", policy(ports({"port": -1})), [(f"{P0}.port", RANGE)]),
    Case("port 65535", policy(ports({"port": 65535})), []),
    Case(
        "named port with consecutive hyphens",
        policy(ports({"port": "a--b"})),
        [(f"{P0}.port", "must not contain consecutive hyphens")],
    ),
    Case(
        "named port with a leading hyphen",
        policy(ports({"port": "-a"})),
        [(f"{P0}.port", "must not begin or end with a hyphen")],
    ),
    Case(
        "named port with a trailing hyphen",
        policy(ports({"port": "a-"})),
        [(f"{P0}.port", "must not begin or end with a hyphen")],
    ),
    Case(
        "named port without a letter", policy(ports({"port": "123"})), [(f"{P0}.port", SVC_LETTER)]
    ),
    Case(
        "named port of 16 characters",
        policy(ports({"port": "abcdefghijklmnop"})),
        [(f"{P0}.port", "no more than 15 characters")],
    ),
    Case(
        "named port uppercase",
        policy(ports({"port": "HTTP"})),
        [(f"{P0}.port", SVC_CHARS), (f"{P0}.port", SVC_LETTER)],
    ),
    Case("named port mixed case", policy(ports({"port": "Http"})), [(f"{P0}.port", SVC_CHARS)]),
    Case(
        "named port with underscore",
        policy(ports({"port": "my_port"})),
        [(f"{P0}.port", SVC_CHARS)],
    ),
    Case(
        "named port empty",
        policy(ports({"port": ""})),
        [(f"{P0}.port", SVC_CHARS), (f"{P0}.port", SVC_LETTER)],
    ),
    Case(
        "named ports valid",
        policy(
            ports(
                {"port": "http"},
                {"port": "h2c"},
                {"port": "a-b-c"},
                {"port": "abcdefghijklmno"},
                {"port": "8080a"},
            )
        ),
        [],
    ),
    Case(
        "port a float",
        policy(ports({"port": 80.5})),
        [(f"{P0}.port", "must be an integer or a string, not a number")],
    ),
    Case(
        "port a boolean",
        policy(ports({"port": True})),
        [(f"{P0}.port", "must be an integer or a string, not a boolean")],
    ),
    Case(
        "endPort a string",
        policy(ports({"port": 80, "endPort": "90"})),
        [(f"{P0}.endPort", "must be an integer, not a string")],
    ),
    Case("a null ports entry is TCP on every port", policy(ports(None)), []),
    Case(
        "every problem of one port entry",
        policy(ports({"protocol": "ICMP", "port": "a--b", "endPort": 5})),
        [
            (f"{P0}.protocol", "supported values"),
            (f"{P0}.port", "consecutive hyphens"),
            (f"{P0}.endPort", "non-numeric"),
        ],
    ),
    # ipBlock
    Case(
        "cidr prefix too long",
        policy(peers(block("10.0.0.0/33"))),
        [(f"{F0}.ipBlock.cidr", BAD_CIDR)],
    ),
    Case("cidr not an address", policy(peers(block("banana"))), [(f"{F0}.ipBlock.cidr", BAD_CIDR)]),
    Case(
        "cidr without a prefix",
        policy(peers(block("10.0.0.1"))),
        [(f"{F0}.ipBlock.cidr", BAD_CIDR)],
    ),
    Case(
        "cidr IPv6 prefix too long",
        policy(peers(block("fd00::/129"))),
        [(f"{F0}.ipBlock.cidr", BAD_CIDR)],
    ),
    Case(
        "cidr missing", policy(peers({"ipBlock": {}})), [(f"{F0}.ipBlock.cidr", "Required value")]
    ),
    Case(
        "cidr a number",
        policy(peers(block(10))),
        [(f"{F0}.ipBlock.cidr", "must be a string, not an integer")],
    ),
    Case(
        "except not inside cidr",
        policy(peers(block("10.0.0.0/16", "10.1.0.0/24"))),
        [(f"{F0}.ipBlock.except[0]", NOT_SUBSET)],
    ),
    Case(
        "except equal to cidr",
        policy(peers(block("10.0.0.0/16", "10.0.0.0/16"))),
        [(f"{F0}.ipBlock.except[0]", NOT_SUBSET)],
    ),
    Case(
        "except larger than cidr",
        policy(peers(block("10.0.0.0/24", "10.0.0.0/16"))),
        [(f"{F0}.ipBlock.except[0]", NOT_SUBSET)],
    ),
    Case(
        "except of the other family",
        policy(peers(block("10.0.0.0/8", "fd00::/64"))),
        [(f"{F0}.ipBlock.except[0]", NOT_SUBSET)],
    ),
    Case(
        "except invalid",
        policy(peers(block("10.0.0.0/8", "10.1.0.0/24", "nope"))),
        [(f"{F0}.ipBlock.except[1]", BAD_CIDR)],
    ),
    Case(
        "except entries: the index of the bad one",
        policy(peers(block("10.0.0.0/8", 7, "11.0.0.0/24"))),
        [(f"{F0}.ipBlock.except[0]", "must be a string"), (f"{F0}.ipBlock.except[1]", NOT_SUBSET)],
    ),
    Case(
        "IPv4 block with excepts",
        policy(peers(block("0.0.0.0/0", "10.0.0.0/8", "192.168.0.0/16"))),
        [],
    ),
    Case(
        "IPv6 blocks",
        policy(peers(block("fd00::/64", "fd00::/96"), block("::/0"), block("2001:db8::1/128"))),
        [],
    ),
    Case("host block", policy(peers(block("192.0.2.7/32"))), []),
    Case("cidr with host bits, as the API server accepts", policy(peers(block("10.0.0.1/24"))), []),
    # peers
    Case(
        "ipBlock with podSelector",
        policy(peers({**block("10.0.0.0/8"), "podSelector": {}})),
        [(F0, "may not specify both ipBlock and another peer")],
    ),
    Case(
        "ipBlock with namespaceSelector",
        policy(peers({**block("10.0.0.0/8"), "namespaceSelector": {}}, direction="egress")),
        [("spec.egress[0].to[0]", "may not specify both ipBlock and another peer")],
    ),
    Case(
        "ipBlock with a selector: both still validated",
        policy(peers({**block("10.0.0.0/33"), "podSelector": {"matchLabels": {"a": "b c"}}})),
        [
            (F0, "may not specify both"),
            (f"{F0}.ipBlock.cidr", BAD_CIDR),
            (f"{F0}.podSelector.matchLabels.a", "a valid label"),
        ],
    ),
    Case("empty peer", policy(peers({})), [(F0, "must specify a peer")]),
    Case("null peer", policy(peers(None)), [(F0, "must specify a peer")]),
    Case("peer a string", policy(peers("web")), [(F0, "must be an object, not a string")]),
    Case("namespaceSelector {} alone", policy(peers({"namespaceSelector": {}})), []),
    Case(
        "namespaceSelector and podSelector",
        policy(
            peers(
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}},
                    "podSelector": {"matchLabels": {"app": "db"}},
                }
            )
        ),
        [],
    ),
    # selectors
    Case(
        "unknown operator",
        policy(peers(expr("app", "Equals", ["x"]))),
        [
            (
                f"{F0}.podSelector.matchExpressions[0].operator",
                '"Equals": not a valid selector operator',
            )
        ],
    ),
    Case(
        "In without values",
        policy(peers(expr("app", "In"))),
        [
            (
                f"{F0}.podSelector.matchExpressions[0].values",
                "must be specified when `operator` is 'In' or 'NotIn'",
            )
        ],
    ),
    Case(
        "NotIn with empty values",
        policy(peers(expr("app", "NotIn", []))),
        [(f"{F0}.podSelector.matchExpressions[0].values", "must be specified")],
    ),
    Case(
        "Exists with values",
        policy(peers(expr("app", "Exists", ["x"]))),
        [
            (
                f"{F0}.podSelector.matchExpressions[0].values",
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )
        ],
    ),
    Case(
        "DoesNotExist with values",
        policy(peers(expr("app", "DoesNotExist", ["x"]))),
        [(f"{F0}.podSelector.matchExpressions[0].values", "may not be specified")],
    ),
    Case(
        "operator missing",
        policy(peers(expr("app", "", ["x"]))),
        [(f"{F0}.podSelector.matchExpressions[0].operator", "Required value")],
    ),
    Case(
        "expression key invalid",
        policy(peers(expr("bad key", "Exists"))),
        [(f"{F0}.podSelector.matchExpressions[0].key", "name part must consist of")],
    ),
    Case(
        "expression value invalid, at its index",
        policy(peers(expr("app", "In", ["ok", "not ok"]))),
        [(f"{F0}.podSelector.matchExpressions[0].values[1]", "a valid label")],
    ),
    Case(
        "expression values of mixed types",
        policy(peers(expr("app", "In", [5, "not ok"]))),
        [
            (f"{F0}.podSelector.matchExpressions[0].values[0]", "must be a string, not an integer"),
            (f"{F0}.podSelector.matchExpressions[0].values[1]", "a valid label"),
        ],
    ),
    Case(
        "all operators valid",
        policy(
            {
                "podSelector": {
                    "matchExpressions": [
                        {"key": "a", "operator": "In", "values": ["1"]},
                        {"key": "b", "operator": "NotIn", "values": ["2"]},
                        {"key": "c", "operator": "Exists"},
                        {"key": "d", "operator": "DoesNotExist"},
                    ]
                }
            }
        ),
        [],
    ),
    Case(
        "podSelector matchLabels invalid",
        policy({"podSelector": {"matchLabels": {"app/x/y": "-v"}}}),
        [
            (
                "spec.podSelector.matchLabels.app/x/y",
                "with an optional DNS subdomain prefix and '/'",
            ),
            ("spec.podSelector.matchLabels.app/x/y", "a valid label"),
        ],
    ),
    Case(
        "podSelector a string",
        policy({"podSelector": "app=web"}),
        [("spec.podSelector", "must be an object, not a string")],
    ),
    # policyTypes
    Case(
        "policyTypes misspelt",
        policy({"podSelector": {}, "policyTypes": ["Ingres"]}),
        [("spec.policyTypes[0]", '"Ingres": supported values: "Egress", "Ingress"')],
    ),
    Case(
        "policyTypes lowercase, at its index",
        policy({"podSelector": {}, "policyTypes": ["Ingress", "egress"]}),
        [("spec.policyTypes[1]", "supported values")],
    ),
    Case(
        "more than two policyTypes",
        policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Ingress"]}),
        [("spec.policyTypes", "may not specify more than two policyTypes")],
    ),
    Case(
        "policyTypes a string",
        policy({"podSelector": {}, "policyTypes": "Ingress"}),
        [("spec.policyTypes", "must be a list, not a string")],
    ),
    Case("policyTypes [Egress] only", policy({"podSelector": {}, "policyTypes": ["Egress"]}), []),
    Case(
        "policyTypes both, no rules",
        policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        [],
    ),
    # structure
    Case("spec missing", {**policy({}), "spec": None}, [("spec", "Required value")]),
    Case(
        "spec a string",
        {**policy({}), "spec": "deny-all"},
        [("spec", "must be an object, not a string")],
    ),
    Case(
        "ingress an object",
        policy({"podSelector": {}, "ingress": {"from": []}}),
        [("spec.ingress", "must be a list, not an object")],
    ),
    Case(
        "ingress rule a string",
        policy({"podSelector": {}, "ingress": ["all"]}),
        [("spec.ingress[0]", "must be an object, not a string")],
    ),
    Case(
        "ports an integer",
        policy({"podSelector": {}, "egress": [{"ports": 80}]}),
        [("spec.egress[0].ports", "must be a list, not an integer")],
    ),
    Case(
        "a null ingress rule allows everything", policy({"podSelector": {}, "ingress": [None]}), []
    ),
    Case("empty rules", policy({"podSelector": {}, "ingress": [], "egress": [{}]}), []),
    Case(
        "name uppercase",
        policy({"podSelector": {}}, name="Allow"),
        [("metadata.name", "RFC 1123 subdomain")],
    ),
]

NAMES = [
    Case(
        "pod name with underscore",
        pod("bad_name"),
        [("metadata.name", "a lowercase RFC 1123 subdomain")],
    ),
    Case("pod name with dots", pod("a.b.c"), []),
    Case(
        "pod name 254 characters",
        pod("a" * 254),
        [("metadata.name", "no more than 253 characters")],
    ),
    Case(
        "pod name missing",
        {**pod("x"), "metadata": {"namespace": "y"}},
        [("metadata.name", "Required value")],
    ),
    Case(
        "pod name a number",
        {**pod("x"), "metadata": {"name": 5}},
        [("metadata.name", "must be a string, not an integer")],
    ),
    Case(
        "namespace name with a dot",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}},
        [("metadata.name", "RFC 1123 label")],
    ),
    Case(
        "namespace name 64 characters",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n" * 64}},
        [("metadata.name", "no more than 63 characters")],
    ),
    Case(
        "metadata.namespace uppercase",
        pod("x", ns="Prod"),
        [("metadata.namespace", "RFC 1123 label")],
    ),
    Case(
        "service name starting with a digit",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "1web"},
            "spec": {"ports": [{"port": 80}]},
        },
        [("metadata.name", "DNS-1035 label")],
    ),
    Case(
        "service name valid",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web-1"},
            "spec": {"ports": [{"port": 80}]},
        },
        [],
    ),
    Case("node name with dots", node("ip-10-0-0-1.ec2.internal"), []),
    Case(
        "unsupported apiVersion",
        {**pod("x"), "apiVersion": "v2"},
        [("apiVersion", 'Unsupported value: "v2": supported values: "v1"')],
    ),
    Case(
        "deployment in extensions/v1beta1",
        {**workload("Deployment", "d"), "apiVersion": "extensions/v1beta1"},
        [("apiVersion", 'supported values: "apps/v1"')],
    ),
    Case(
        "kind a number",
        {"apiVersion": "v1", "kind": 7, "metadata": {"name": "x"}},
        [("kind", "must be a string, not an integer")],
    ),
    Case(
        "metadata a list",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": ["x"]},
        [("metadata", "must be an object, not a list"), ("metadata.name", "Required value")],
    ),
]


def labelled(labels: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labels": labels}}


L = "metadata.labels"
LABELS = [
    Case(
        "label keys valid",
        labelled(
            {
                "app": "a",
                "example.com/app": "b",
                "kubernetes.io/metadata.name": "x",
                "a.b_c-d": "e",
                "A1": "f",
            }
        ),
        [],
    ),
    Case(
        "label key with two slashes",
        labelled({"a/b/c": "x"}),
        [(f"{L}.a/b/c", "a qualified name must consist of")],
    ),
    Case(
        "label key with empty prefix",
        labelled({"/app": "x"}),
        [(f"{L}./app", "prefix part must be non-empty")],
    ),
    Case(
        "label key prefix uppercase",
        labelled({"Example.com/app": "x"}),
        [(f"{L}.Example.com/app", "prefix part a lowercase RFC 1123 subdomain")],
    ),
    Case(
        "label key prefix of 254 characters",
        labelled({"a" * 254 + "/app": "x"}),
        [(f"{L}.{'a' * 254}/app", "prefix part must be no more than 253 characters")],
    ),
    Case(
        "label key with empty name",
        labelled({"example.com/": "x"}),
        [
            (f"{L}.example.com/", "name part must be non-empty"),
            (f"{L}.example.com/", "name part must consist of"),
        ],
    ),
    Case(
        "label key name of 64 characters",
        labelled({"k" * 64: "x"}),
        [(f"{L}.{'k' * 64}", "name part must be no more than 63 characters")],
    ),
    Case("label key name 63 characters", labelled({"k" * 63: "x"}), []),
    Case(
        "label key name starting with '-'",
        labelled({"-app": "x"}),
        [(f"{L}.-app", "name part must consist of")],
    ),
    Case(
        "label key name ending with '.'",
        labelled({"app.": "x"}),
        [(f"{L}.app.", "name part must consist of")],
    ),
    Case(
        "label key with a space",
        labelled({"my app": "x"}),
        [(f"{L}.my app", "name part must consist of")],
    ),
    Case("label value empty", labelled({"app": ""}), []),
    Case("label values valid", labelled({"a": "x_y.z-1", "b": "A" * 63}), []),
    Case(
        "label value with a space",
        labelled({"app": "a b"}),
        [(f"{L}.app", 'Invalid value: "a b": a valid label must be an empty string')],
    ),
    Case(
        "label value 64 characters",
        labelled({"app": "v" * 64}),
        [(f"{L}.app", "must be no more than 63 characters")],
    ),
    Case("label value starting with '-'", labelled({"app": "-x"}), [(f"{L}.app", "a valid label")]),
    Case("label value with '/'", labelled({"app": "a/b"}), [(f"{L}.app", "a valid label")]),
    Case(
        "label value an integer",
        labelled({"version": 2}),
        [(f"{L}.version", "must be a string, not an integer")],
    ),
    Case(
        "label value a boolean",
        labelled({"enabled": True}),
        [(f"{L}.enabled", "must be a string, not a boolean")],
    ),
    # kubectl's YAML reader turns an integer or boolean key into its text (`1:` is "1")
    Case("label key an integer", labelled({1: "x"}), []),
    Case(
        "label key null",
        labelled({None: "x"}),
        [(f"{L}.None", "key must be a string, not null")],
    ),
    Case("labels a string", labelled("app=web"), [(L, "must be an object, not a string")]),
    Case("labels a list", labelled(["app"]), [(L, "must be an object, not a list")]),
]


def ctr_ports(*entries: Any, host_network: bool = False) -> dict:
    spec: dict[str, Any] = {"containers": [{"name": "c", "ports": list(entries)}]}
    if host_network:
        spec["hostNetwork"] = True
    return pod("p", **spec)


CP = "spec.containers[0].ports"
PODS = [
    Case(
        "container ports valid",
        ctr_ports(
            {"containerPort": 80, "name": "http"},
            {"containerPort": 53, "protocol": "UDP", "name": "dns"},
            {"containerPort": 9999, "protocol": "SCTP"},
        ),
        [],
    ),
    Case(
        "duplicate port names in a container",
        ctr_ports({"containerPort": 80, "name": "http"}, {"containerPort": 8080, "name": "http"}),
        [(f"{CP}[1].name", 'Duplicate value: "http"')],
    ),
    Case(
        "same port name in two containers",
        pod(
            "p",
            containers=[
                {"name": "a", "ports": [{"containerPort": 80, "name": "http"}]},
                {"name": "b", "ports": [{"containerPort": 81, "name": "http"}]},
            ],
        ),
        [],
    ),
    Case("containerPort 0", ctr_ports({"containerPort": 0}), [(f"{CP}[0].containerPort", RANGE)]),
    Case(
        "containerPort 70000",
        ctr_ports({"containerPort": 70000}),
        [(f"{CP}[0].containerPort", RANGE)],
    ),
    Case(
        "containerPort missing",
        ctr_ports({"name": "http"}),
        [(f"{CP}[0].containerPort", "Required value")],
    ),
    Case(
        "containerPort a string",
        ctr_ports({"containerPort": "80"}),
        [(f"{CP}[0].containerPort", "must be an integer, not a string")],
    ),
    Case(
        "container port name invalid",
        ctr_ports({"containerPort": 80, "name": "web_1"}),
        [(f"{CP}[0].name", SVC_CHARS)],
    ),
    Case(
        "container port protocol invalid",
        ctr_ports({"containerPort": 80, "protocol": "ICMP"}),
        [(f"{CP}[0].protocol", "supported values")],
    ),
    Case(
        "hostPort out of range",
        ctr_ports({"containerPort": 80, "hostPort": 70000}),
        [(f"{CP}[0].hostPort", RANGE)],
    ),
    Case("hostPort 0 is unset", ctr_ports({"containerPort": 80, "hostPort": 0}), []),
    Case(
        "hostNetwork: hostPort must equal containerPort",
        ctr_ports({"containerPort": 80, "hostPort": 8080}, host_network=True),
        [(f"{CP}[0].hostPort", "must match `containerPort`")],
    ),
    Case(
        "every problem of a container port",
        ctr_ports({"containerPort": 0, "name": "a--b", "protocol": "X"}),
        [
            (f"{CP}[0].containerPort", RANGE),
            (f"{CP}[0].name", "consecutive hyphens"),
            (f"{CP}[0].protocol", "supported values"),
        ],
    ),
    Case("containers missing", pod("p", containers=[]), [("spec.containers", "Required value")]),
    Case(
        "spec a list",
        {**pod("p"), "spec": []},
        [("spec", "must be an object, not a list"), ("spec.containers", "Required value")],
    ),
    Case(
        "nodeSelector value an integer",
        pod("p", nodeSelector={"disk": 1}),
        [("spec.nodeSelector.disk", "must be a string, not an integer")],
    ),
    Case(
        "toleration operator invalid",
        pod("p", tolerations=[{"key": "k", "operator": "Equals"}]),
        [("spec.tolerations[0].operator", 'Unsupported value: "Equals"')],
    ),
    Case(
        "hostNetwork a string",
        pod("p", hostNetwork="true"),
        [("spec.hostNetwork", "must be a boolean, not a string")],
    ),
    Case(
        "status.podIP invalid",
        {**pod("p"), "status": {"podIP": "10.244.0.300"}},
        [("status.podIP", "must be a valid IP address")],
    ),
    Case(
        "status.podIPs entry a string",
        {**pod("p"), "status": {"podIPs": ["10.244.0.3"]}},
        [("status.podIPs[0]", "must be an object, not a string")],
    ),
]


def mismatched(kind: str) -> dict:
    w = workload(kind, "web")
    spec = w["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else w["spec"]
    spec["selector"] = {"matchLabels": {"app": "other"}}
    return w


def with_spec(w: dict, **changes: Any) -> dict:
    w["spec"].update(changes)
    for k, val in changes.items():
        if val is None:
            del w["spec"][k]
    return w


WORKLOADS = [
    *(
        Case(
            f"{kind}: selector does not match template labels",
            mismatched(kind),
            [
                (
                    f"{prefix}spec.template.metadata.labels",
                    "`selector` does not match template `labels`",
                )
            ],
        )
        for kind, prefix in (
            ("Deployment", ""),
            ("ReplicaSet", ""),
            ("StatefulSet", ""),
            ("DaemonSet", ""),
            ("Job", ""),
        )
    ),
    Case(
        "CronJob: selector does not match",
        mismatched("CronJob"),
        [("spec.jobTemplate.spec.template.metadata.labels", "does not match")],
    ),
    Case(
        "Deployment: selector with expressions matching",
        with_spec(
            workload("Deployment", "web"),
            selector={
                "matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]
            },
        ),
        [],
    ),
    Case(
        "Deployment: selector missing",
        with_spec(workload("Deployment", "web"), selector=None),
        [("spec.selector", "Required value")],
    ),
    Case(
        "Deployment: empty selector",
        with_spec(workload("Deployment", "web"), selector={}),
        [("spec.selector", "empty selector is invalid for deployment")],
    ),
    Case(
        "StatefulSet: empty selector",
        with_spec(workload("StatefulSet", "db"), selector={}),
        [("spec.selector", "empty selector is invalid for statefulset")],
    ),
    Case(
        "Deployment: selector with a bad operator",
        with_spec(
            workload("Deployment", "web"),
            selector={"matchExpressions": [{"key": "app", "operator": "Is", "values": ["web"]}]},
        ),
        [("spec.selector.matchExpressions[0].operator", "not a valid selector operator")],
    ),
    Case(
        "Deployment: replicas negative",
        workload("Deployment", "web", replicas=-1),
        [("spec.replicas", "must be greater than or equal to 0")],
    ),
    Case(
        "Deployment: replicas a string",
        workload("Deployment", "web", replicas="3"),
        [("spec.replicas", "must be an integer, not a string")],
    ),
    Case(
        "Deployment: replicas beyond reason",
        workload("Deployment", "web", replicas=10**7),
        [("spec.replicas", "podnet models at most")],
    ),
    Case(
        "Job: parallelism negative",
        workload("Job", "batch", replicas=-2),
        [("spec.parallelism", "must be greater than or equal to 0")],
    ),
    Case("Job without selector", workload("Job", "batch"), []),
    Case(
        "CronJob: template missing",
        {**workload("CronJob", "c"), "spec": {"jobTemplate": {"spec": {}}}},
        [("spec.jobTemplate.spec.template", "Required value")],
    ),
    Case(
        "Deployment: template container port invalid",
        with_spec(
            workload("Deployment", "web"),
            template={
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 0}]}]},
            },
        ),
        [("spec.template.spec.containers[0].ports[0].containerPort", RANGE)],
    ),
    Case(
        "Deployment: template labels invalid",
        with_spec(
            workload("Deployment", "web"),
            template={
                "metadata": {"labels": {"app": "web", "v": "a b"}},
                "spec": {"containers": [{"name": "c"}]},
            },
        ),
        [("spec.template.metadata.labels.v", "a valid label")],
    ),
    Case(
        "Deployment: name with underscore",
        workload("Deployment", "my_web"),
        [("metadata.name", "RFC 1123 subdomain")],
    ),
]


def cluster_network(**spec: Any) -> dict:
    return {
        "apiVersion": "podnet.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": "demo"},
        "spec": spec,
    }


def kind_cluster(**body: Any) -> dict:
    return {"apiVersion": "kind.x-k8s.io/v1alpha4", "kind": "Cluster", **body}


CONFIG = [
    Case(
        "ClusterNetwork valid",
        cluster_network(
            podSubnet="10.200.0.0/16",
            serviceSubnet="10.100.0.0/16",
            nodeCIDRMaskSize=25,
            backend="vxlan",
            kubeProxyMode="iptables",
            serviceNodePortRange="31000-31999",
        ),
        [],
    ),
    Case(
        "ClusterNetwork dual-stack valid",
        cluster_network(podSubnet="10.244.0.0/16,fd00:10:244::/56", nodeCIDRMaskSizeIPv6=64),
        [],
    ),
    Case(
        "podSubnet prefix too long",
        cluster_network(podSubnet="10.244.0.0/33"),
        [("spec.podSubnet", '"10.244.0.0/33": must be a valid CIDR')],
    ),
    Case(
        "podSubnet not a network",
        cluster_network(podSubnet="banana"),
        [("spec.podSubnet", "must be a valid CIDR")],
    ),
    Case(
        "podSubnet with host bits",
        cluster_network(podSubnet="10.244.0.1/16"),
        [("spec.podSubnet", "without host bits")],
    ),
    Case(
        "podSubnet two IPv4",
        cluster_network(podSubnet="10.0.0.0/16,10.1.0.0/16"),
        [("spec.podSubnet", "one IPv4 and one IPv6")],
    ),
    Case(
        "podSubnet a number",
        cluster_network(podSubnet=10),
        [("spec.podSubnet", "must be a string, not an integer")],
    ),
    Case(
        "serviceSubnet invalid",
        cluster_network(serviceSubnet="10.96.0.0/40"),
        [("spec.serviceSubnet", "must be a valid CIDR")],
    ),
    Case(
        "nodeSubnet invalid",
        cluster_network(nodeSubnet="172.18.0.0"),
        [("spec.nodeSubnet", "must be a valid CIDR")],
    ),
    Case(
        "nodeCIDRMaskSize 33",
        cluster_network(nodeCIDRMaskSize=33),
        [("spec.nodeCIDRMaskSize", "must be between 1 and 32")],
    ),
    Case(
        "nodeCIDRMaskSize shorter than the pod subnet",
        cluster_network(nodeCIDRMaskSize=8),
        [
            (
                "spec.nodeCIDRMaskSize",
                "node CIDR mask /8 is larger than the pod subnet 10.244.0.0/16",
            )
        ],
    ),
    Case(
        "nodeCIDRMaskSize a string",
        cluster_network(nodeCIDRMaskSize="24"),
        [("spec.nodeCIDRMaskSize", "must be an integer, not a string")],
    ),
    Case(
        "IPv6 node mask more than 16 bits longer",
        cluster_network(podSubnet="10.244.0.0/16,fd00::/48", nodeCIDRMaskSizeIPv6=80),
        [("spec.nodeCIDRMaskSizeIPv6", "more than 16 bits longer")],
    ),
    Case(
        "IPv6 node mask 129",
        cluster_network(nodeCIDRMaskSizeIPv6=129),
        [("spec.nodeCIDRMaskSizeIPv6", "must be between 1 and 128")],
    ),
    Case(
        "backend unknown",
        cluster_network(backend="flannel"),
        [("spec.backend", 'Unsupported value: "flannel": supported values: "host-gw", "vxlan"')],
    ),
    Case("kubeProxyMode ipvs", cluster_network(kubeProxyMode="ipvs"), []),
    Case(
        "kubeProxyMode unknown",
        cluster_network(kubeProxyMode="userspace"),
        [("spec.kubeProxyMode", 'supported values: "nftables", "iptables", "ipvs"')],
    ),
    # kube-proxy's KubeProxyIPVSConfiguration (pkg/proxy/apis/config/validation)
    Case(
        "ipvs settings valid",
        cluster_network(
            kubeProxyMode="ipvs",
            ipvs={
                "scheduler": "mh",
                "strictARP": True,
                "tcpTimeout": "15m",
                "tcpFinTimeout": "0s",
                "udpTimeout": "1m30s",
                "excludeCIDRs": ["10.0.0.1/24", "fd00::/64"],
            },
        ),
        [],
    ),
    Case("ipvs scheduler empty: rr", cluster_network(ipvs={"scheduler": ""}), []),
    Case("ipvs settings in another mode", cluster_network(ipvs={"scheduler": "sh"}), []),
    Case(
        "ipvs scheduler unknown",
        cluster_network(kubeProxyMode="ipvs", ipvs={"scheduler": "round-robin"}),
        [("spec.ipvs.scheduler", 'Unsupported value: "round-robin": not an IPVS scheduler')],
    ),
    Case(
        "ipvs timeout negative",
        cluster_network(kubeProxyMode="ipvs", ipvs={"tcpTimeout": "-1s"}),
        [("spec.ipvs.tcpTimeout", "must be greater than or equal to 0")],
    ),
    Case(
        "ipvs timeouts not durations",
        cluster_network(ipvs={"tcpFinTimeout": "15", "udpTimeout": 30}),
        [
            ("spec.ipvs.tcpFinTimeout", 'Invalid value: "15": must be a duration such as "900s"'),
            ("spec.ipvs.udpTimeout", "must be a duration such as"),
        ],
    ),
    Case(
        "ipvs excludeCIDRs invalid",
        cluster_network(ipvs={"excludeCIDRs": ["10.0.0.0/33"]}),
        [("spec.ipvs.excludeCIDRs", 'Invalid value: "10.0.0.0/33": must be a valid CIDR')],
    ),
    Case(
        "ipvs strictARP a string",
        cluster_network(ipvs={"strictARP": "yes"}),
        [("spec.ipvs.strictARP", "must be a boolean, not a string")],
    ),
    Case(
        "ipvs unknown field",
        cluster_network(ipvs={"syncPeriod": "30s", "schedular": "rr"}),
        [
            ("spec.ipvs.syncPeriod", "unknown field"),
            ("spec.ipvs.schedular", "unknown field (did you mean scheduler?)"),
        ],
    ),
    Case(
        "ipvs not an object",
        cluster_network(ipvs="rr"),
        [("spec.ipvs", "must be an object, not a string")],
    ),
    Case(
        "detectLocalMode unknown",
        cluster_network(detectLocalMode="Bridge"),
        [("spec.detectLocalMode", "Unsupported value")],
    ),
    Case(
        "serviceNodePortRange not a range",
        cluster_network(serviceNodePortRange="abc"),
        [("spec.serviceNodePortRange", "must be a port range")],
    ),
    Case(
        "serviceNodePortRange reversed",
        cluster_network(serviceNodePortRange="32767-30000"),
        [("spec.serviceNodePortRange", "must be a port range")],
    ),
    Case(
        "dns ttl too large",
        cluster_network(dns={"ttl": 5000}),
        [("spec.dns.ttl", "between 0 and 3600")],
    ),
    Case(
        "dns a string", cluster_network(dns="on"), [("spec.dns", "must be an object, not a string")]
    ),
    Case(
        "nodes: duplicate names and a bad IP",
        cluster_network(nodes=[{"name": "n1"}, {"name": "n1", "ip": "172.18.0.300"}]),
        [
            ("spec.nodes[1].name", 'Duplicate value: "n1"'),
            ("spec.nodes[1].ip", "must be a valid IP address"),
        ],
    ),
    Case(
        "nodes: name missing",
        cluster_network(nodes=[{"labels": {"a": "b"}}]),
        [("spec.nodes[0].name", "Required value")],
    ),
    Case(
        "metadata.name invalid",
        {**cluster_network(), "metadata": {"name": "Demo"}},
        [("metadata.name", "RFC 1123 label")],
    ),
    Case(
        "kind Cluster valid",
        kind_cluster(
            nodes=[{"role": "control-plane"}, {"role": "worker"}],
            networking={"podSubnet": "10.100.0.0/16"},
        ),
        [],
    ),
    Case(
        "kind Cluster unknown role",
        kind_cluster(nodes=[{"role": "master"}]),
        [("nodes[0].role", 'Unsupported value: "master"')],
    ),
    Case("kind Cluster ipvs", kind_cluster(networking={"kubeProxyMode": "ipvs"}), []),
    Case(
        "kind Cluster kubeProxyMode unknown",
        kind_cluster(networking={"kubeProxyMode": "userspace"}),
        [("networking.kubeProxyMode", 'Unsupported value: "userspace"')],
    ),
    Case(
        "kind Cluster ipFamily unknown",
        kind_cluster(networking={"ipFamily": "both"}),
        [("networking.ipFamily", 'supported values: "ipv4", "ipv6", "dual"')],
    ),
    Case(
        "kind Cluster podSubnet invalid",
        kind_cluster(networking={"podSubnet": "10.100.0.0/99"}),
        [("networking.podSubnet", "must be a valid CIDR")],
    ),
]

ALL = [
    *(("NetworkPolicy", c) for c in NETWORK_POLICY),
    *(("names", c) for c in NAMES),
    *(("labels", c) for c in LABELS),
    *(("pods", c) for c in PODS),
    *(("workloads", c) for c in WORKLOADS),
    *(("config", c) for c in CONFIG),
]


def _check(case: Case, got: list) -> None:
    fields = [(p.field, p.message) for p in got]
    assert len(got) == len(case.errors), fields
    for want_field, text in case.errors:
        match = [m for f, m in fields if f == want_field and (text is None or text in m)]
        assert match, f"no problem at {want_field} with {text!r} in {fields}"
    for p in got:
        assert p.file == "test.yaml" and p.line is not None, str(p)


@pytest.mark.parametrize("case", [c for _, c in ALL], ids=[f"{g}: {c.id}" for g, c in ALL])
def test_validation(case: Case) -> None:
    if not case.errors:
        load(case.obj)
        return
    _check(case, problems_of(case.obj))


def _renamed(case: Case, i: int) -> dict:
    obj = dict(case.obj)
    meta = obj.get("metadata")
    if (
        isinstance(meta, dict)
        and isinstance(meta.get("name"), str)
        and obj.get("kind")
        not in (
            "ClusterNetwork",
            "Namespace",
        )
    ):
        obj["metadata"] = {**meta, "name": f"{meta['name'][:200]}{i}"}
    return obj


def test_all_errors_of_a_file_reported_together() -> None:
    """Every invalid NetworkPolicy, Pod and label case in one file: every problem of every case
    is reported, each naming its object, and in line order."""
    cases = [c for g, c in ALL if c.errors and g in ("NetworkPolicy", "pods", "labels")]
    objs = [_renamed(c, i) for i, c in enumerate(cases)]
    labels = [o for o in objs if o["kind"] == "Namespace"]
    for i, o in enumerate(labels):
        o["metadata"] = {**o["metadata"], "name": f"x{i}"}
    with pytest.raises(ManifestError) as err:
        load(manifests(*objs))
    got = err.value.problems
    assert len(got) == sum(len(c.errors) for c in cases)
    assert [p.line for p in got] == sorted(p.line for p in got)  # type: ignore[type-var]
    for c, o in zip(cases, objs, strict=True):
        name = o["metadata"]["name"]
        mine = [p for p in got if p.obj.endswith(f"/{name}") or p.obj == f"Namespace {name}"]
        _check(c, mine)


def test_problem_names_file_line_object_and_field() -> None:
    text = manifests(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
        policy(
            {
                "podSelector": {},
                "ingress": [{"ports": [{"port": 80}, {"port": 80, "endPort": 79}]}],
            },
            name="allow-web",
        ),
    )
    with pytest.raises(ManifestError) as err:
        cluster_from_text(text, "policies.yaml")
    (p,) = err.value.problems
    assert (p.file, p.line, p.obj, p.field) == (
        "policies.yaml",
        text.splitlines().index("      endPort: 79") + 1,
        "NetworkPolicy x/allow-web",
        "spec.ingress[0].ports[1].endPort",
    )
    assert (
        str(p)
        == f"policies.yaml:{p.line}: NetworkPolicy x/allow-web: spec.ingress[0].ports[1].endPort: Invalid value: 79: must be >= port (80)"
    )


@pytest.mark.parametrize(
    ("spec", "types"),
    [
        ({"podSelector": {}}, ("Ingress",)),
        ({"podSelector": {}, "ingress": [{}]}, ("Ingress",)),
        ({"podSelector": {}, "egress": []}, ("Ingress",)),
        ({"podSelector": {}, "egress": [{}]}, ("Ingress", "Egress")),
        ({"podSelector": {}, "egress": [None]}, ("Ingress", "Egress")),
        ({"podSelector": {}, "policyTypes": [], "egress": [{}]}, ("Ingress", "Egress")),
        ({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}, ("Egress",)),
        ({"podSelector": {}, "policyTypes": ["Egress", "Ingress"]}, ("Ingress", "Egress")),
    ],
)
def test_policy_types_defaulting(spec: dict, types: tuple[str, ...]) -> None:
    (p,) = load(policy(spec)).policies
    assert p.policy_types == types


@pytest.mark.parametrize(
    ("spec", "rules"),
    [
        # a null item is its zero value upstream: a rule allowing all, a TCP entry for all ports
        ({"podSelector": {}, "ingress": [None]}, "[PolicyRule(peers=(), ports=())]"),
        (
            {"podSelector": {}, "ingress": [{"ports": [None]}]},
            "[PolicyRule(peers=(), ports=(PolicyPort(protocol='TCP', port=None, end_port=None),))]",
        ),
        ({"podSelector": {}, "ingress": []}, "[]"),
    ],
)
def test_null_list_items_are_zero_values(spec: dict, rules: str) -> None:
    (p,) = load(policy(spec)).policies
    assert repr(list(p.ingress)) == rules
