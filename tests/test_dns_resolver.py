"""Pod resolv.conf (kubelet) and the glibc search walk: which queries a pod sends for a name."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address, ip_network

import pytest

from podnet.dns.resolver import (
    ResolvConf,
    cluster_dns,
    cluster_lookup,
    node_resolv_conf,
    pod_resolv_conf,
    reverse_name,
    search,
)
from podnet.model.cluster import Cluster
from podnet.model.config import ClusterConfig
from podnet.model.objects import Endpoint, Namespace, Node, Pod, PodDNSConfig
from tests.test_dns_records import _slice, _svc


def shop_cluster() -> Cluster:
    services = (
        _svc("kube-dns", "kube-system", "10.96.0.10", ports=(("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"))),
        _svc("web", "shop", "10.96.0.20"),
        _svc("web", "other", "10.96.0.21"),
        _svc("db", "shop", "fd00:10:96::5"),
        _svc("api", "shop", ports=(), type="ExternalName", external_name="api.example.com"),
    )  # fmt: skip
    slices = (_slice("kube-dns-1", "kube-system", "kube-dns", "IPv4", [Endpoint(("10.244.0.2",))]),)
    names = ("default", "kube-system", "other", "shop")
    return Cluster(
        config=ClusterConfig(),
        namespaces={n: Namespace(n, {}) for n in names},
        nodes=(Node("node-1", {}, ips=(ip_address("172.18.0.2"),)),),
        pods=(),
        services=services,
        endpoint_slices=slices,
    )


def _pod(**kw) -> Pod:
    return Pod("client", kw.pop("namespace", "shop"), {}, node_name="node-1", **kw)


CLUSTER_FIRST = (
    "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
    "nameserver 10.96.0.10\n"
    "options ndots:5\n"
)
NODE = "nameserver 172.18.0.1\n"

RESOLV_CONF_CASES = [
    ("ClusterFirst", _pod(), CLUSTER_FIRST, 0),
    ("default policy is ClusterFirst", _pod(dns_policy=""), CLUSTER_FIRST, 0),
    ("ClusterFirst on the host network falls back to Default", _pod(host_network=True), NODE, 1),
    ("ClusterFirstWithHostNet", _pod(host_network=True, dns_policy="ClusterFirstWithHostNet"), CLUSTER_FIRST, 0),
    ("ClusterFirstWithHostNet off the host network", _pod(dns_policy="ClusterFirstWithHostNet"), CLUSTER_FIRST, 0),
    ("Default", _pod(dns_policy="Default"), NODE, 0),
    ("None", _pod(dns_policy="None", dns_config=PodDNSConfig(("1.1.1.1",), ("corp.example",), (("ndots", "2"),))),
     "search corp.example\nnameserver 1.1.1.1\noptions ndots:2\n", 0),
    ("None without dnsConfig", _pod(dns_policy="None"), "", 0),
    ("dnsConfig merged on ClusterFirst",
     _pod(dns_config=PodDNSConfig(("10.96.0.10", "8.8.8.8"), ("corp.example", "svc.cluster.local"), (("ndots", "2"), ("edns0", None)))),
     "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
     "nameserver 10.96.0.10\nnameserver 8.8.8.8\noptions ndots:2 edns0\n", 0),
    ("dnsConfig on Default", _pod(dns_policy="Default", dns_config=PodDNSConfig((), ("corp.example",), (("single-request", None),))),
     "search corp.example\nnameserver 172.18.0.1\noptions single-request\n", 0),
    ("at most 3 nameservers", _pod(dns_policy="None", dns_config=PodDNSConfig(("1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"))),
     "nameserver 1.1.1.1\nnameserver 1.0.0.1\nnameserver 8.8.8.8\n", 1),
    ("at most 32 search domains", _pod(dns_policy="None", dns_config=PodDNSConfig(("1.1.1.1",), tuple(f"d{i}.example" for i in range(40)))),
     "search " + " ".join(f"d{i}.example" for i in range(32)) + "\nnameserver 1.1.1.1\n", 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "pod", "text", "warnings"), RESOLV_CONF_CASES, ids=[c[0] for c in RESOLV_CONF_CASES]
)
def test_resolv_conf(title: str, pod: Pod, text: str, warnings: int) -> None:
    conf = pod_resolv_conf(shop_cluster(), pod)
    assert conf.text() == text
    assert len(conf.warnings) == warnings


def test_search_line_character_limit() -> None:
    long = tuple(f"{'x' * 60}-{i}.example" for i in range(32))  # 32 x 70 characters
    conf = pod_resolv_conf(
        shop_cluster(), _pod(dns_policy="None", dns_config=PodDNSConfig(("1.1.1.1",), long))
    )
    assert len(" ".join(conf.searches)) <= 2048
    assert conf.searches == long[: len(conf.searches)] and len(conf.searches) < 32
    assert conf.warnings


def test_cluster_dns_and_the_node_resolver() -> None:
    cluster = shop_cluster()
    assert cluster_dns(cluster) == ("10.96.0.10",)
    # Without a kube-dns Service, the kubelet still points at kubeadm's default address.
    bare = replace(
        cluster,
        services=(),
        config=replace(cluster.config, service_subnets=(ip_network("10.100.0.0/16"),)),
    )
    assert cluster_dns(bare) == ("10.100.0.10",)
    assert node_resolv_conf(cluster).nameservers == ("172.18.0.1",)


def test_ndots_parsing() -> None:
    assert ResolvConf().ndots == 1
    assert ResolvConf(options=("ndots:5",)).ndots == 5
    assert ResolvConf(options=("ndots:5", "ndots:2")).ndots == 2
    assert ResolvConf(options=("ndots:30",)).ndots == 15


# The walk: each row is a pod, a name, and the queries in order as "qname TYPE status" where the
# status is the answer's kind (answer, NODATA, NXDOMAIN) or "upstream" (not the cluster's).

SEARCH = ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"]


def _walk(name: str, *statuses: str, types=("A", "AAAA")) -> list[str]:
    """The queries for `name` tried as each of `statuses` says, in the order given."""
    out = []
    for candidate, status in zip(_candidates(name), statuses, strict=False):
        out += [f"{candidate} {t} {status}" for t in types]
    return out


def _candidates(spec: str) -> list[str]:
    return spec.split(" | ")


WALK_CASES = [
    ("web", _pod(), ("A", "AAAA"), "answer", ["10.96.0.20"], [
        "web.shop.svc.cluster.local. A answer",
        "web.shop.svc.cluster.local. AAAA NODATA"]),
    ("web.shop", _pod(), ("A", "AAAA"), "answer", ["10.96.0.20"], [
        "web.shop.shop.svc.cluster.local. A NXDOMAIN",
        "web.shop.shop.svc.cluster.local. AAAA NXDOMAIN",
        "web.shop.svc.cluster.local. A answer",
        "web.shop.svc.cluster.local. AAAA NODATA"]),
    ("web.other", _pod(), ("A", "AAAA"), "answer", ["10.96.0.21"], [
        "web.other.shop.svc.cluster.local. A NXDOMAIN",
        "web.other.shop.svc.cluster.local. AAAA NXDOMAIN",
        "web.other.svc.cluster.local. A answer",
        "web.other.svc.cluster.local. AAAA NODATA"]),
    ("web.shop.svc", _pod(), ("A", "AAAA"), "answer", ["10.96.0.20"], [
        "web.shop.svc.shop.svc.cluster.local. A NXDOMAIN",
        "web.shop.svc.shop.svc.cluster.local. AAAA NXDOMAIN",
        "web.shop.svc.svc.cluster.local. A NXDOMAIN",
        "web.shop.svc.svc.cluster.local. AAAA NXDOMAIN",
        "web.shop.svc.cluster.local. A answer",
        "web.shop.svc.cluster.local. AAAA NODATA"]),
    ("web.shop.svc.cluster.local.", _pod(), ("A", "AAAA"), "answer", ["10.96.0.20"], [
        "web.shop.svc.cluster.local. A answer",
        "web.shop.svc.cluster.local. AAAA NODATA"]),
    # Four dots are fewer than ndots:5: the search list comes first even for the full name.
    ("web.shop.svc.cluster.local", _pod(), ("A", "AAAA"), "answer", ["10.96.0.20"],
        _walk("web.shop.svc.cluster.local.shop.svc.cluster.local. | web.shop.svc.cluster.local.svc.cluster.local. | "
              "web.shop.svc.cluster.local.cluster.local.", "NXDOMAIN", "NXDOMAIN", "NXDOMAIN")
        + ["web.shop.svc.cluster.local. A answer", "web.shop.svc.cluster.local. AAAA NODATA"]),
    ("example.com", _pod(), ("A", "AAAA"), "upstream", [],
        _walk("example.com.shop.svc.cluster.local. | example.com.svc.cluster.local. | example.com.cluster.local. | example.com.",
              "NXDOMAIN", "NXDOMAIN", "NXDOMAIN", "upstream")),
    # A name without dots is tried as is last (glibc without no-tld-query).
    ("nosuch", _pod(), ("A", "AAAA"), "upstream", [],
        _walk("nosuch.shop.svc.cluster.local. | nosuch.svc.cluster.local. | nosuch.cluster.local. | nosuch.",
              "NXDOMAIN", "NXDOMAIN", "NXDOMAIN", "upstream")),
    ("nosuch", _pod(dns_config=PodDNSConfig(options=(("no-tld-query", None),))), ("A", "AAAA"), "NXDOMAIN", [],
        _walk("nosuch.shop.svc.cluster.local. | nosuch.svc.cluster.local. | nosuch.cluster.local.",
              "NXDOMAIN", "NXDOMAIN", "NXDOMAIN")),
    # Five dots reach ndots:5: the name as is first (upstream), then the search list.
    ("a.b.c.d.e.f", _pod(), ("A", "AAAA"), "upstream", [],
        _walk("a.b.c.d.e.f. | a.b.c.d.e.f.shop.svc.cluster.local. | a.b.c.d.e.f.svc.cluster.local. | a.b.c.d.e.f.cluster.local.",
              "upstream", "NXDOMAIN", "NXDOMAIN", "NXDOMAIN")),
    # ndots:2 from dnsConfig: two dots go as is first.
    ("web.shop.svc", _pod(dns_config=PodDNSConfig(options=(("ndots", "2"),))), ("A", "AAAA"), "answer", ["10.96.0.20"],
        _walk("web.shop.svc. | web.shop.svc.shop.svc.cluster.local. | web.shop.svc.svc.cluster.local.",
              "upstream", "NXDOMAIN", "NXDOMAIN")
        + ["web.shop.svc.cluster.local. A answer", "web.shop.svc.cluster.local. AAAA NODATA"]),
    ("web.shop", _pod(dns_config=PodDNSConfig(options=(("ndots", "2"),))), ("A", "AAAA"), "answer", ["10.96.0.20"], [
        "web.shop.shop.svc.cluster.local. A NXDOMAIN",
        "web.shop.shop.svc.cluster.local. AAAA NXDOMAIN",
        "web.shop.svc.cluster.local. A answer",
        "web.shop.svc.cluster.local. AAAA NODATA"]),
    # Only the type asked for (res_search, e.g. `host -t SRV`).
    ("_http._tcp.web", _pod(), ("SRV",), "answer", [], ["_http._tcp.web.shop.svc.cluster.local. SRV answer"]),
    ("db", _pod(), ("A", "AAAA"), "answer", ["fd00:10:96::5"], [
        "db.shop.svc.cluster.local. A NODATA",
        "db.shop.svc.cluster.local. AAAA answer"]),
    ("db", _pod(dns_config=PodDNSConfig(options=(("no-aaaa", None),))), ("A", "AAAA"), "upstream", [],
        _walk("db.shop.svc.cluster.local. | db.svc.cluster.local. | db.cluster.local. | db.",
              "NODATA", "NXDOMAIN", "NXDOMAIN", "upstream", types=("A",))),
    # ExternalName: the CNAME ends the walk; the target is the upstream's to resolve.
    ("api", _pod(), ("A", "AAAA"), "answer", [], ["api.shop.svc.cluster.local. A answer", "api.shop.svc.cluster.local. AAAA answer"]),
    # Default and hostNetwork pods ask the node's resolver, which knows no cluster names.
    ("web", _pod(dns_policy="Default"), ("A", "AAAA"), "upstream", [], ["web. A upstream", "web. AAAA upstream"]),
    ("web", _pod(host_network=True), ("A", "AAAA"), "upstream", [], ["web. A upstream", "web. AAAA upstream"]),
    ("web", _pod(host_network=True, dns_policy="ClusterFirstWithHostNet"), ("A", "AAAA"), "answer", ["10.96.0.20"], [
        "web.shop.svc.cluster.local. A answer", "web.shop.svc.cluster.local. AAAA NODATA"]),
    # None: only what dnsConfig gives; a CoreDNS pod address is the cluster DNS as well.
    ("web", _pod(dns_policy="None", dns_config=PodDNSConfig(("10.244.0.2",), ("other.svc.cluster.local",))),
     ("A", "AAAA"), "answer", ["10.96.0.21"], ["web.other.svc.cluster.local. A answer", "web.other.svc.cluster.local. AAAA NODATA"]),
    ("web", _pod(dns_policy="None"), ("A", "AAAA"), "no nameserver", [], []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "pod", "qtypes", "outcome", "addresses", "queries"),
    WALK_CASES,
    ids=[f"{c[0]}-{c[1].dns_policy}-{i}" for i, c in enumerate(WALK_CASES)],
)
def test_search_walk(
    name: str, pod: Pod, qtypes, outcome: str, addresses: list[str], queries: list[str]
) -> None:
    cluster = shop_cluster()
    conf = pod_resolv_conf(cluster, pod)
    r = search(name, conf, cluster_lookup(cluster), qtypes)
    got = [f"{q.qname} {q.qtype.name} {q.status}" for q in r.queries]
    assert got == queries
    assert r.outcome == outcome
    assert r.addresses == addresses


def test_the_walk_names_what_is_left_upstream() -> None:
    cluster = shop_cluster()
    conf = pod_resolv_conf(cluster, _pod())
    lookup = cluster_lookup(cluster)
    assert str(search("example.com", conf, lookup).upstream_name) == "example.com."
    assert str(search("api", conf, lookup).upstream_name) == "api.example.com."
    assert search("web", conf, lookup).upstream_name is None
    assert search("web", conf, lookup).to_dict()["addresses"] == ["10.96.0.20"]


def test_servfail_goes_on_and_refused_stops_the_search_list() -> None:
    import dns.name
    import dns.rcode

    from podnet.dns.records import Answer

    def lookup(rcode):
        def answer(server, qname, qtype):
            if str(qname).startswith("x.svc."):
                return Answer(qname, qtype, rcode)
            return Answer(qname, qtype, dns.rcode.NXDOMAIN)

        return answer

    conf = ResolvConf(("10.96.0.10",), tuple(SEARCH), ("ndots:5",))
    went_on = search("x", conf, lookup(dns.rcode.SERVFAIL), ("A",))
    assert [str(q.qname) for q in went_on.queries] == [
        "x.shop.svc.cluster.local.",
        "x.svc.cluster.local.",
        "x.cluster.local.",
        "x.",
    ]
    stopped = search("x", conf, lookup(dns.rcode.REFUSED), ("A",))
    # REFUSED ends the search list; the name as is is still tried.
    assert [str(q.qname) for q in stopped.queries] == [
        "x.shop.svc.cluster.local.",
        "x.svc.cluster.local.",
        "x.",
    ]
    assert dns.name.from_text("x.") == stopped.queries[-1].qname


def test_reverse_name() -> None:
    assert reverse_name("10.96.0.10") == "10.0.96.10.in-addr.arpa."
    assert reverse_name("web") is None
