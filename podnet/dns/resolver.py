"""Each pod's stub resolver: its resolv.conf as the kubelet writes it, and the queries glibc sends.

Pure: no sockets. `pod_resolv_conf` follows kubelet's `pkg/kubelet/network/dns/dns.go`
(GetPodDNS: dnsPolicy, dnsConfig merged on top, nameserver and search-list limits), rendered as
containerd writes it. `search` follows glibc's `__res_context_search` (resolv/res_query.c): the
name as is first when it has at least `ndots` dots (or ends with a dot, which also skips the search
list), else each search domain in turn, then the name as is; NXDOMAIN, NODATA and SERVFAIL go on
to the next candidate, a response with answer records ends the walk. getaddrinfo asks A and AAAA
for each candidate and stops when either has answers.

Answers come from the cluster's records when the pod's first nameserver is the cluster DNS
(glibc only moves to the next nameserver when one does not answer). Everything else is answered
upstream, which a model cannot know: such queries are marked `upstream`, and the walk goes on past
them as it would if they found nothing (what usually happens to a search-list expansion).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address

import dns.name
import dns.rcode
import dns.rdatatype

from podnet.dns.records import DNS_NAMESPACE, DNS_SERVICE, Answer, ClusterZone
from podnet.model.cluster import Cluster
from podnet.model.objects import Node, Pod

# Limits the kubelet applies (ExpandedDNSConfig, GA since 1.28) [K pkg/apis/core/validation].
MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_CHARS = 2048
MAX_DOMAIN_LENGTH = 253
CLUSTER_FIRST_OPTIONS = ("ndots:5",)
GLIBC_DEFAULT_NDOTS = 1
GLIBC_MAX_NDOTS = 15

# The nodes' own resolv.conf (what dnsPolicy Default gives, and what hostNetwork pods under
# ClusterFirst fall back to): one nameserver, the first address of the node subnet, as on kind,
# whose nodes resolve through the gateway of their Docker network. No search domains, no options.
NODE_NAMESERVER_INDEX = 1

DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")


@dataclass(frozen=True, slots=True)
class ResolvConf:
    """A resolv.conf: what a pod's resolver is configured with."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    policy: str = ""  # the DNS type the kubelet applied: ClusterFirst, Default or None
    warnings: tuple[str, ...] = ()  # kubelet events (limits exceeded, fallbacks)

    def text(self) -> str:
        """As containerd writes it: search, nameservers, options."""
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        lines += [f"nameserver {ns}" for ns in self.nameservers]
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "".join(line + "\n" for line in lines)

    @property
    def ndots(self) -> int:
        value = GLIBC_DEFAULT_NDOTS
        for opt in self.options:
            name, _, arg = opt.partition(":")
            if name == "ndots" and arg.isdigit():
                value = min(int(arg), GLIBC_MAX_NDOTS)
        return value

    def has_option(self, name: str) -> bool:
        return any(opt.partition(":")[0] == name for opt in self.options)

    def to_dict(self) -> dict[str, object]:
        return {
            "nameservers": list(self.nameservers),
            "searches": list(self.searches),
            "options": list(self.options),
            "policy": self.policy,
            "warnings": list(self.warnings),
        }


def cluster_dns(cluster: Cluster) -> tuple[str, ...]:
    """The kubelet's --cluster-dns: the ClusterIPs of kube-system/kube-dns, else kubeadm's
    default (the tenth address of the service subnet)."""
    for svc in cluster.services:
        if (svc.namespace, svc.name) == (DNS_NAMESPACE, DNS_SERVICE) and svc.cluster_ips:
            return tuple(str(ip) for ip in svc.cluster_ips)
    return (str(cluster.config.service_subnets[0][10]),)


def cluster_dns_servers(cluster: Cluster) -> frozenset[str]:
    """Addresses that reach the cluster DNS: the kube-dns ClusterIPs and its endpoints."""
    servers = set(cluster_dns(cluster))
    for eps in cluster.endpoint_slices:
        if (eps.namespace, eps.service_name) == (DNS_NAMESPACE, DNS_SERVICE):
            servers |= {a for e in eps.endpoints if e.is_ready for a in e.addresses}
    return frozenset(servers)


def node_resolv_conf(cluster: Cluster, node: Node | None = None) -> ResolvConf:
    """A node's /etc/resolv.conf (see NODE_NAMESERVER_INDEX)."""
    subnet = cluster.config.node_subnet
    return ResolvConf(nameservers=(str(subnet[NODE_NAMESERVER_INDEX]),), policy="Default")


def pod_resolv_conf(cluster: Cluster, pod: Pod) -> ResolvConf:
    """The resolv.conf the kubelet gives `pod` (GetPodDNS)."""
    node = next((n for n in cluster.nodes if n.name == pod.node_name), None)
    host = node_resolv_conf(cluster, node)
    warnings: list[str] = []
    policy = pod.dns_policy or "ClusterFirst"
    if policy == "None":
        kind = "None"
    elif policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not pod.host_network):
        kind = "ClusterFirst"
    else:  # Default, and ClusterFirst on the host network
        kind = "Default"
        if policy == "ClusterFirst":
            warnings.append(
                "hostNetwork pod with dnsPolicy ClusterFirst: falls back to Default"
                " (the node's resolv.conf); use ClusterFirstWithHostNet for cluster names"
            )
    nameservers: list[str]
    searches: list[str]
    options: list[str]
    if kind == "None":
        nameservers, searches, options = [], [], []
    elif kind == "ClusterFirst":
        zone = cluster.config.dns_domain.rstrip(".")
        nameservers = list(cluster_dns(cluster))
        searches = _unique([f"{pod.namespace}.svc.{zone}", f"svc.{zone}", zone, *host.searches])
        options = list(CLUSTER_FIRST_OPTIONS)
    else:
        nameservers, searches, options = (
            list(host.nameservers),
            list(host.searches),
            list(host.options),
        )
    config = pod.dns_config
    if config is not None:
        nameservers = _unique([*nameservers, *config.nameservers])
        searches = _unique([*searches, *config.searches])
        options = _merge_options(options, config.options)
    if len(nameservers) > MAX_NAMESERVERS:
        nameservers = nameservers[:MAX_NAMESERVERS]
        warnings.append(
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied"
            " nameserver line is: " + " ".join(nameservers)
        )
    searches, exceeded = _fit_searches(searches)
    if exceeded:
        warnings.append(
            "Search Line limits were exceeded, some search paths have been omitted, the applied"
            " search line is: " + " ".join(searches)
        )
    return ResolvConf(tuple(nameservers), tuple(searches), tuple(options), kind, tuple(warnings))


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _merge_options(existing: list[str], given: tuple[tuple[str, str | None], ...]) -> list[str]:
    """mergeDNSOptions: dnsConfig options replace options of the same name."""
    merged: dict[str, str] = {}
    for opt in existing:
        name, _, value = opt.partition(":")
        merged[name] = value
    for name, value in given:
        merged[name] = value or ""
    return [f"{name}:{value}" if value else name for name, value in merged.items()]


def _fit_searches(searches: list[str]) -> tuple[list[str], bool]:
    exceeded = False
    if len(searches) > MAX_SEARCH_PATHS:
        searches, exceeded = searches[:MAX_SEARCH_PATHS], True
    kept = [s for s in searches if len(s) <= MAX_DOMAIN_LENGTH]
    exceeded = exceeded or len(kept) < len(searches)
    while kept and len(" ".join(kept)) > MAX_SEARCH_CHARS:
        kept.pop()
        exceeded = True
    return kept, exceeded


# --- the glibc search walk ------------------------------------------------------------------------

Lookup = Callable[[str, dns.name.Name, dns.rdatatype.RdataType], Answer | None]


@dataclass(frozen=True, slots=True)
class Query:
    """One query the stub resolver sends, and what comes back."""

    qname: dns.name.Name
    qtype: dns.rdatatype.RdataType
    server: str
    source: str  # "search <domain>" or "as is"
    answer: Answer | None  # None: answered upstream, unknown to the model

    @property
    def upstream(self) -> bool:
        return self.answer is None

    @property
    def status(self) -> str:
        if self.answer is None:
            return "upstream"
        if self.answer.positive:
            return "answer"
        if self.answer.is_nodata:
            return "NODATA"
        return dns.rcode.to_text(self.answer.rcode)

    def to_dict(self) -> dict[str, object]:
        return {
            "qname": self.qname.to_text(),
            "qtype": dns.rdatatype.to_text(self.qtype),
            "server": self.server,
            "source": self.source,
            "status": self.status,
            "answer": self.answer.to_dict() if self.answer is not None else None,
        }


@dataclass(frozen=True, slots=True)
class Resolution:
    """The walk for one name: every query in order and how it ended."""

    name: str
    qtypes: tuple[dns.rdatatype.RdataType, ...]
    conf: ResolvConf
    queries: tuple[Query, ...]
    # "answer": a query of the final candidate has answer records; "upstream": nothing in the
    # cluster answers and at least one query went upstream; else "NXDOMAIN", "NODATA",
    # "SERVFAIL", "REFUSED" (what glibc reports), or "no nameserver".
    outcome: str
    final: tuple[int, ...] = ()  # indexes in `queries` of the candidate that ended the walk

    @property
    def answers(self) -> list[Answer]:
        return [a for i in self.final if (a := self.queries[i].answer) is not None]

    @property
    def addresses(self) -> list[str]:
        return [addr for a in self.answers for addr in a.addresses()]

    @property
    def upstream_name(self) -> dns.name.Name | None:
        """What the upstream resolver is left to answer: the first query sent upstream, or the
        target of an ExternalName CNAME."""
        if self.outcome == "answer":
            return next((a.upstream for a in self.answers if a.upstream is not None), None)
        return next((q.qname for q in self.queries if q.upstream), None)

    def to_dict(self) -> dict[str, object]:
        up = self.upstream_name
        return {
            "name": self.name,
            "qtypes": [dns.rdatatype.to_text(t) for t in self.qtypes],
            "resolv_conf": self.conf.to_dict(),
            "queries": [q.to_dict() for q in self.queries],
            "outcome": self.outcome,
            "final": list(self.final),
            "addresses": self.addresses,
            "upstream": up.to_text() if up is not None else None,
        }


def cluster_lookup(cluster: Cluster, zone: ClusterZone | None = None) -> Lookup:
    """Answers as the pod would get them: from the cluster's records when the server is the
    cluster DNS and the name is one it serves; None (upstream) otherwise."""
    zone = zone or ClusterZone(cluster)
    servers = cluster_dns_servers(cluster)

    def lookup(server: str, qname: dns.name.Name, qtype: dns.rdatatype.RdataType):
        if server not in servers:
            return None
        answer = zone.answer(qname, qtype)
        if answer.upstream == qname:
            return None  # CoreDNS forwards it (`forward .`, or `fallthrough` for reverse names)
        return answer

    return lookup


def search(
    name: str,
    conf: ResolvConf,
    lookup: Lookup,
    qtypes: Sequence[dns.rdatatype.RdataType | str] = ("A", "AAAA"),
) -> Resolution:
    """glibc's res_search for `name` (getaddrinfo's walk with the default A and AAAA)."""
    types = tuple(dns.rdatatype.RdataType.make(t) for t in qtypes)
    if conf.has_option("no-aaaa") and len(types) > 1:  # glibc 2.36: no AAAA for getaddrinfo
        types = tuple(t for t in types if t != dns.rdatatype.AAAA)
    queries: list[Query] = []
    server = conf.nameservers[0] if conf.nameservers else ""
    if not server:
        return Resolution(name, types, conf, (), "no nameserver")

    def attempt(fqdn: str, source: str) -> tuple[str, tuple[int, ...]]:
        """One candidate: its queries and glibc's verdict on them (res_context_query)."""
        qname = dns.name.from_text(fqdn)
        first = len(queries)
        for qtype in types:
            queries.append(Query(qname, qtype, server, source, lookup(server, qname, qtype)))
        mine = queries[first:]
        indexes = tuple(range(first, len(queries)))
        answers = [q.answer for q in mine if q.answer is not None]
        if any(a.positive for a in answers):
            return "answer", indexes
        if len(answers) < len(mine):
            return "upstream", indexes
        rcodes = [a.rcode for a in answers]
        rcode = rcodes[0] if rcodes[0] != dns.rcode.NOERROR else rcodes[-1]
        if rcode == dns.rcode.NOERROR:
            return "NODATA", indexes
        return dns.rcode.to_text(rcode), indexes

    dots = name.count(".")
    trailing_dot = name.endswith(".")
    as_is = name if trailing_dot else name + "."
    tried_as_is = root_on_list = searched = False
    first_verdict = ""
    verdicts: list[tuple[str, tuple[int, ...]]] = []

    def finish(verdict: str, indexes: tuple[int, ...]) -> Resolution:
        return Resolution(name, types, conf, tuple(queries), verdict, indexes)

    if dots >= conf.ndots or trailing_dot:
        verdict, indexes = attempt(as_is, "as is")
        if verdict == "answer" or trailing_dot:
            return finish(_final(verdict, [(verdict, indexes)]), indexes)
        first_verdict = verdict
        verdicts.append((verdict, indexes))
        tried_as_is = True
    if not trailing_dot:
        for domain in conf.searches:
            searched = True
            domain = domain.removeprefix(".")
            if not domain:
                root_on_list = True
            fqdn = f"{name}.{domain}" if domain else name
            if not fqdn.endswith("."):
                fqdn += "."
            verdict, indexes = attempt(fqdn, f"search {domain or '.'}")
            if verdict == "answer":
                return finish("answer", indexes)
            verdicts.append((verdict, indexes))
            if verdict not in ("NXDOMAIN", "NODATA", "SERVFAIL", "upstream"):
                break
    if (dots or not searched or not conf.has_option("no-tld-query")) and not (
        tried_as_is or root_on_list
    ):
        verdict, indexes = attempt(as_is, "as is")
        if verdict == "answer":
            return finish("answer", indexes)
        verdicts.append((verdict, indexes))
    outcome = _final(first_verdict, verdicts)
    deciding = [ix for v, ix in verdicts if v == "upstream"] if outcome == "upstream" else []
    return finish(outcome, deciding[0] if deciding else verdicts[-1][1] if verdicts else ())


def _final(first_verdict: str, verdicts: list[tuple[str, tuple[int, ...]]]) -> str:
    """What glibc reports when no candidate answered: the as-is attempt's error when it came
    first, else NODATA if any candidate had it; "upstream" when an upstream query might have
    answered instead."""
    kinds = [v for v, _ in verdicts]
    if "answer" in kinds:
        return "answer"
    if "upstream" in kinds:
        return "upstream"
    if first_verdict:
        return first_verdict
    if "NODATA" in kinds:
        return "NODATA"
    return kinds[-1] if kinds else "NXDOMAIN"


def reverse_name(text: str) -> str | None:
    """`10.96.0.10` → `10.0.96.10.in-addr.arpa.`; None when `text` is not an IP address."""
    try:
        return ip_address(text).reverse_pointer + "."
    except ValueError:
        return None
