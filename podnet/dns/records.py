"""Cluster DNS records: what CoreDNS's `kubernetes` plugin answers for a cluster.

Pure: a `ClusterZone` is built once from a `Cluster` (indexes by name and by address) and then
answers `(qname, qtype)` with an `Answer`: rcode, answer, authority and additional sections as
dnspython RRsets. No sockets and no upstream resolver here: what the cluster hands on (names
outside its zones, reverse names it does not know, the target of an ExternalName Service) is
marked in `Answer.upstream` for the caller to forward.

The behaviour is that of the Kubernetes DNS specification (schema 1.1.0) as CoreDNS implements it
(`plugin/kubernetes`: parse.go, kubernetes.go, reverse.go, ns.go, handler.go; `plugin/
backend_lookup.go`), configured as kubeadm does:

    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }

The TTL and the `pods` mode come from the ClusterNetwork document (`spec.dns`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdatatype import RdataType

from podnet.family import FAMILIES, family
from podnet.model.cluster import Cluster
from podnet.model.objects import IPAddress, Service, ServiceType

SCHEMA_VERSION = "1.1.0"
VERSION_TTL = 28800  # CoreDNS answers dns-version.<zone> with this TTL, whatever `ttl` says
SOA_REFRESH, SOA_RETRY, SOA_EXPIRE = 7200, 1800, 86400
MAX_CNAME_CHAIN = 10  # plugin/backend_lookup.go maxCnameChainLength
DNS_NAMESPACE, DNS_SERVICE = "kube-system", "kube-dns"

IN_ADDR_ARPA = dns.name.from_text("in-addr.arpa.")
IP6_ARPA = dns.name.from_text("ip6.arpa.")
REVERSE_ZONES = (IN_ADDR_ARPA, IP6_ARPA)

A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT = (
    RdataType.A,
    RdataType.AAAA,
    RdataType.CNAME,
    RdataType.NS,
    RdataType.PTR,
    RdataType.SOA,
    RdataType.SRV,
    RdataType.TXT,
)
# The record type of each IP family's addresses.
_ADDRESS_TYPES = {f.version: RdataType[f.dns_type] for f in FAMILIES.values()}
IN = dns.rdataclass.IN

_Item = tuple[dns.name.Name, RdataType, int, Any]  # owner, type, TTL, data (text or a Name)


@dataclass(frozen=True, slots=True)
class Answer:
    """One response of the cluster DNS server, before it is put on the wire."""

    qname: dns.name.Name
    qtype: RdataType
    rcode: dns.rcode.Rcode
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    additional: tuple[dns.rrset.RRset, ...] = ()
    zone: dns.name.Name | None = None  # the zone that answered; None: outside the cluster's zones
    # A name the cluster hands to the upstream resolver: the query itself when it is outside the
    # zones or a reverse name the cluster does not know (`fallthrough`), or an ExternalName target.
    upstream: dns.name.Name | None = None

    @property
    def authoritative(self) -> bool:
        return self.zone is not None and self.rcode != dns.rcode.REFUSED

    @property
    def is_nxdomain(self) -> bool:
        return self.rcode == dns.rcode.NXDOMAIN

    @property
    def is_nodata(self) -> bool:
        return self.rcode == dns.rcode.NOERROR and not self.answer

    @property
    def positive(self) -> bool:
        return self.rcode == dns.rcode.NOERROR and bool(self.answer)

    def addresses(self) -> list[str]:
        """The A and AAAA values of the answer section, in order."""
        return [r.to_text() for rrset in self.answer if rrset.rdtype in (A, AAAA) for r in rrset]

    def to_dict(self) -> dict[str, object]:
        return {
            "qname": self.qname.to_text(),
            "qtype": dns.rdatatype.to_text(self.qtype),
            "rcode": dns.rcode.to_text(self.rcode),
            "answer": rr_lines(self.answer),
            "authority": rr_lines(self.authority),
            "additional": rr_lines(self.additional),
            "authoritative": self.authoritative,
            "upstream": self.upstream.to_text() if self.upstream is not None else None,
        }


def rr_lines(rrsets: Iterable[dns.rrset.RRset]) -> list[str]:
    """Records as zone-file lines (`name ttl IN type data`), one per record."""
    return [line for rrset in rrsets for line in rrset.to_text().splitlines()]


# --- the plugin's view of the cluster -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Address:
    """A ready endpoint address (object.EndpointAddress)."""

    ip: str  # as the EndpointSlice gives it
    label: str  # the endpoint hostname, else the dashed IP


@dataclass(frozen=True, slots=True)
class _Port:
    port: int  # -1: the slice declares no port (CoreDNS's sentinel)
    name: str
    protocol: str


@dataclass(frozen=True, slots=True)
class _Endpoints:
    """One EndpointSlice as CoreDNS keeps it: ready addresses times ports."""

    addresses: tuple[_Address, ...]
    ports: tuple[_Port, ...]


@dataclass(frozen=True, slots=True)
class _Request:
    """A name under the cluster zone, split as parse.go does: [ep|_port._proto].svc.ns.(svc|pod)."""

    pod_or_svc: str = ""
    namespace: str = ""
    service: str = ""
    endpoint: str = ""
    port: str = ""
    protocol: str = ""


@dataclass(frozen=True, slots=True)
class _Target:
    """What a lookup finds (CoreDNS msg.Service): an address, a name to point at, or a text."""

    host: str = ""
    port: int = -1
    key: str = ""  # the owner name of records built from it (SRV targets, NS names)
    ttl: int = 0
    text: str = ""

    @property
    def host_type(self) -> RdataType:
        """A, AAAA, or CNAME when the host is a name (plugin/etcd/msg HostType)."""
        if self.text:
            return TXT
        try:
            return address_type(ip_address(self.host))
        except ValueError:
            return CNAME


_INVALID = _Request(pod_or_svc="<invalid>")


def endpoint_label(ip: str, hostname: str = "") -> str:
    """The first label of an endpoint's name: its hostname, else its IP with dashes
    (`10-244-1-5`; IPv6 `fd00-10-244--5`, a trailing `-` completed with `0`)."""
    if hostname:
        return hostname
    if "." in ip:
        return ip.replace(".", "-")
    if ":" in ip:
        label = ip.replace(":", "-")
        return label + "0" if label.endswith("-") else label
    return ""


def reverse_address(name: dns.name.Name) -> IPAddress | None:
    """The address a complete in-addr.arpa (4 labels) or ip6.arpa (32 nibbles) name stands for."""
    if name.is_subdomain(IN_ADDR_ARPA):
        labels = name.relativize(IN_ADDR_ARPA).labels
        if len(labels) != 4:
            return None
        text = ".".join(label.decode("latin-1") for label in reversed(labels))
    elif name.is_subdomain(IP6_ARPA):
        labels = name.relativize(IP6_ARPA).labels
        if len(labels) != 32 or any(len(label) != 1 for label in labels):
            return None
        nibbles = "".join(label.decode("latin-1") for label in reversed(labels))
        text = ":".join(nibbles[i : i + 4] for i in range(0, 32, 4))
    else:
        return None
    try:
        return ip_address(text)
    except ValueError:
        return None


class ClusterZone:
    """The records of one cluster, indexed once so that each question is a few dict look-ups."""

    def __init__(self, cluster: Cluster) -> None:
        config = cluster.config
        self.origin = dns.name.from_text(config.dns_domain)
        self.zones = (self.origin, *REVERSE_ZONES)
        self.ttl = config.dns_ttl
        self.pods_mode = config.dns_pods
        self.namespaces = frozenset(cluster.namespaces)
        self.services: dict[tuple[str, str], list[Service]] = {}
        for svc in cluster.services:
            self.services.setdefault((svc.namespace, svc.name), []).append(svc)
        self.endpoints: dict[tuple[str, str], list[_Endpoints]] = {}
        for eps in cluster.endpoint_slices:
            if eps.address_type == "FQDN" or not eps.service_name:
                continue
            addresses = tuple(
                _Address(a, endpoint_label(a, e.hostname))
                for e in eps.endpoints
                if e.is_ready
                for a in e.addresses
            )
            ports = tuple(
                _Port(-1 if p.port is None else p.port, p.name or "", p.protocol or "")
                for p in eps.ports
            ) or (_Port(-1, "", ""),)
            key = (eps.namespace, eps.service_name)
            self.endpoints.setdefault(key, []).append(_Endpoints(addresses, ports))
        # Reverse look-ups: a ClusterIP wins, else every Service whose endpoints hold the address.
        self._cluster_ip: dict[IPAddress, Service] = {}
        for svc in cluster.services:
            for ip in svc.cluster_ips:
                self._cluster_ip.setdefault(ip, svc)
        self._endpoint_names: dict[IPAddress, list[str]] = {}
        for (ns, name), slices in self.endpoints.items():
            for sl in slices:
                for a in sl.addresses:
                    ip = _parse_ip(a.ip)
                    if ip is not None:
                        fqdn = f"{a.label}.{name}.{ns}.svc.{self.origin}"
                        self._endpoint_names.setdefault(ip, []).append(fqdn)
        # `pods verified` knows pods by their primary IP, as CoreDNS's pod index does.
        self._pod_namespaces: dict[str, set[str]] = {}
        for pod in cluster.pods:
            if pod.ips and not pod.deletion_timestamp:
                self._pod_namespaces.setdefault(str(pod.ips[0]), set()).add(pod.namespace)
        self.serial = _serial(cluster)

    # --- public ---------------------------------------------------------------------------------

    def zone_of(self, qname: dns.name.Name) -> dns.name.Name | None:
        """The longest of the cluster's zones that holds `qname`, or None."""
        best = None
        for zone in self.zones:
            if qname.is_subdomain(zone) and (best is None or len(zone) > len(best)):
                best = zone
        return best

    def answer(self, qname: dns.name.Name | str, qtype: RdataType | int | str) -> Answer:
        """The response to one question (class IN)."""
        if isinstance(qname, str):
            qname = dns.name.from_text(qname)
        qtype = dns.rdatatype.RdataType.make(qtype)
        zone = self.zone_of(qname)
        if zone is None:
            return Answer(qname, qtype, dns.rcode.REFUSED, upstream=qname)
        if qtype in (RdataType.AXFR, RdataType.IXFR):
            return Answer(qname, qtype, dns.rcode.REFUSED, zone=zone)
        items: list[_Item] = []
        extra: list[_Item] = []
        upstream: list[dns.name.Name] = []
        found: bool
        if qtype in (A, AAAA):
            found = self._address(qname, zone, qtype, [], items, upstream)
        elif qtype == TXT:
            found = self._txt(qname, zone, items)
        elif qtype == CNAME:
            found = self._cname(qname, zone, items)
        elif qtype == PTR:
            found = self._ptr(qname, zone, items)
        elif qtype == SRV:
            found = self._srv(qname, zone, items, extra)
        elif qtype == SOA and qname == zone:
            items.append((qname, SOA, self._soa_ttl, self._soa_text(zone)))
            found = True
        elif qtype == NS and qname == zone:
            found = self._ns(qname, zone, items, extra)
        else:  # a fake A look-up tells NODATA from NXDOMAIN, as handler.go does
            found = self._address(qname, zone, A, [], [], [])
        if not found:
            fallthrough = zone in REVERSE_ZONES
            return Answer(
                qname,
                qtype,
                dns.rcode.NXDOMAIN,
                authority=(self.soa(zone),),
                zone=zone,
                upstream=qname if fallthrough else None,
            )
        if not items:
            return Answer(qname, qtype, dns.rcode.NOERROR, authority=(self.soa(zone),), zone=zone)
        return Answer(
            qname,
            qtype,
            dns.rcode.NOERROR,
            answer=tuple(_rrsets(items)),
            additional=tuple(_rrsets(extra)),
            zone=zone,
            upstream=upstream[0] if upstream else None,
        )

    def soa(self, zone: dns.name.Name) -> dns.rrset.RRset:
        rrset = dns.rrset.RRset(zone, IN, SOA)
        rrset.add(dns.rdata.from_text(IN, SOA, self._soa_text(zone)), self._soa_ttl)
        return rrset

    def names(self) -> Iterator[tuple[str, RdataType]]:
        """Every name with records of its own and a type it answers, for zone files and benches."""
        z = self.origin.to_text()
        yield (f"dns-version.{z}", TXT)
        for (ns, name), svcs in sorted(self.services.items()):
            fqdn = f"{name}.{ns}.svc.{z}"
            for svc in svcs:
                if svc.type == ServiceType.ExternalName:
                    yield (fqdn, CNAME)
                    continue
                families = set() if svc.headless else {ip.version for ip in svc.cluster_ips}
                ports = set() if svc.headless else {(p.name, p.protocol) for p in svc.ports}
                labels: set[str] = set()
                for sl in self.endpoints.get((ns, name), []):
                    for a in sl.addresses:
                        ip = _parse_ip(a.ip)
                        if ip is None:
                            continue
                        if svc.headless:
                            families.add(ip.version)
                            ports |= {(p.name, p.protocol) for p in sl.ports if p.port != -1}
                        if a.label not in labels:
                            labels.add(a.label)
                            yield (f"{a.label}.{fqdn}", address_type(ip))
                for version in sorted(families):
                    yield (fqdn, address_type(version))
                for port_name, protocol in sorted(ports):
                    if port_name:
                        yield (f"_{port_name}._{protocol.lower()}.{fqdn}", SRV)
        for ip in sorted(self._cluster_ip, key=lambda i: (i.version, i)):
            yield (ip.reverse_pointer + ".", PTR)
        for ip in sorted(self._endpoint_names.keys() - self._cluster_ip.keys(), key=_ip_order):
            yield (ip.reverse_pointer + ".", PTR)

    # --- plugin/backend_lookup.go ---------------------------------------------------------------

    def _address(
        self,
        qname: dns.name.Name,
        zone: dns.name.Name,
        rdtype: RdataType,
        previous: list[tuple[dns.name.Name, dns.name.Name]],
        items: list[_Item],
        upstream: list[dns.name.Name],
    ) -> bool:
        targets = self._services(qname, zone, rdtype)
        if targets is None:
            return False
        seen: set[str] = set()
        for t in targets:
            kind = t.host_type
            if kind == CNAME:
                target = dns.name.from_text(t.host)
                if target.is_subdomain(qname) or len(previous) > MAX_CNAME_CHAIN:
                    continue  # x CNAME x, or a chain too long to follow
                if (qname, target) in previous:
                    continue
                cname = (qname, CNAME, t.ttl, target.to_text())
                if target.is_subdomain(zone):
                    chased: list[_Item] = []
                    if (
                        self._address(
                            target, zone, rdtype, [*previous, (qname, target)], chased, upstream
                        )
                        and chased
                    ):
                        items.append(cname)
                        items.extend(chased)
                    continue
                items.append(cname)
                upstream.append(target)
            elif kind == rdtype and t.host not in seen:
                seen.add(t.host)
                items.append((qname, rdtype, t.ttl, str(ip_address(t.host))))
        return True

    def _txt(self, qname: dns.name.Name, zone: dns.name.Name, items: list[_Item]) -> bool:
        targets = self._services(qname, zone, TXT)
        if targets is None:
            return False
        for t in targets:
            if t.text:
                items.append((qname, TXT, t.ttl, f'"{t.text}"'))
        return True

    def _cname(self, qname: dns.name.Name, zone: dns.name.Name, items: list[_Item]) -> bool:
        targets = self._services(qname, zone, CNAME)
        if targets is None:
            return False
        if targets and targets[0].host_type == CNAME:
            items.append((qname, CNAME, targets[0].ttl, dns.name.from_text(targets[0].host)))
        return True

    def _ptr(self, qname: dns.name.Name, zone: dns.name.Name, items: list[_Item]) -> bool:
        ip = reverse_address(qname)
        if ip is None:
            return self._records(qname, zone) is not None
        hosts = self._reverse(ip)
        if not hosts:
            return False
        for host in dict.fromkeys(hosts):
            items.append((qname, PTR, self.ttl, host))
        return True

    def _srv(
        self,
        qname: dns.name.Name,
        zone: dns.name.Name,
        items: list[_Item],
        extra: list[_Item],
    ) -> bool:
        targets = self._services(qname, zone, SRV)
        if targets is None:
            return False
        total = 100 * len(targets)  # every target has priority 0 and weight 100
        weight = max(1, math.floor(100.0 / total * 100)) if total else 0
        seen: set[tuple[str, str | int]] = set()
        for t in targets:
            if t.port == -1:
                continue
            kind = t.host_type
            if kind not in (A, AAAA):
                continue
            if (t.key, t.port) not in seen:
                seen.add((t.key, t.port))
                items.append((qname, SRV, t.ttl, f"0 {weight} {t.port} {t.key}"))
            if (t.key, t.host) not in seen:
                seen.add((t.key, t.host))
                extra.append((dns.name.from_text(t.key), kind, t.ttl, t.host))
        return True

    def _ns(
        self,
        qname: dns.name.Name,
        zone: dns.name.Name,
        items: list[_Item],
        extra: list[_Item],
    ) -> bool:
        seen: set[str] = set()
        for name, ip in self._ns_addresses(zone):
            extra.append((dns.name.from_text(name), address_type(ip), self.ttl, ip))
            if name not in seen:
                seen.add(name)
                items.append((qname, NS, self.ttl, name))
        return True

    # --- plugin/kubernetes ----------------------------------------------------------------------

    def _services(
        self, qname: dns.name.Name, zone: dns.name.Name, qtype: RdataType
    ) -> list[_Target] | None:
        """Kubernetes.Services: None is a name error (NXDOMAIN)."""
        if qtype == TXT:
            labels = _labels(qname, zone)
            if labels == ("dns-version",):
                return [_Target(text=SCHEMA_VERSION, ttl=VERSION_TTL)]
            # CoreDNS answers NXDOMAIN when the name exists with no records of its own
            # (`svc.<zone>`); NODATA keeps the answer consistent with the other types.
            return None if self._records(qname, zone) is None else []
        if _is_default_ns(qname, zone):
            return [
                _Target(host=str(ip), key=qname.to_text(), ttl=self.ttl)
                for _, ip in self._ns_addresses(zone)
                if address_type(ip) == qtype
            ]
        targets = self._records(qname, zone)
        if qtype == SRV and targets is not None:
            return [t for t in targets if t.host_type != CNAME]
        return targets

    def _records(self, qname: dns.name.Name, zone: dns.name.Name) -> list[_Target] | None:
        """Kubernetes.Records."""
        r = _parse(_labels(qname, zone))
        if r is _INVALID:
            return None
        if not r.pod_or_svc:
            return []
        if zone in REVERSE_ZONES:
            return None
        if r.namespace not in self.namespaces:
            return None
        if r.pod_or_svc == "pod":
            return self._find_pods(r)
        return self._find_services(r)

    def _find_pods(self, r: _Request) -> list[_Target] | None:
        if self.pods_mode == "disabled":
            return None
        if not r.service:
            return []
        name = r.service
        if name.count("-") == 3 and "--" not in name:
            text = name.replace("-", ".")
        else:
            text = name.replace("-", ":")
        ip = _parse_ip(text)
        if ip is None:
            return None
        if self.pods_mode == "insecure":
            return [_Target(host=str(ip), ttl=self.ttl)]
        if r.namespace in self._pod_namespaces.get(text, ()):
            return [_Target(host=str(ip), ttl=self.ttl)]
        return None

    def _find_services(self, r: _Request) -> list[_Target] | None:
        if not r.service:
            return []
        found = False
        out: list[_Target] = []
        fqdn = f"{r.service}.{r.namespace}.svc.{self.origin}"
        for svc in self.services.get((r.namespace, r.service), []):
            if svc.type == ServiceType.ExternalName:
                # No endpoints, and no port or protocol labels, below an ExternalName.
                if r.endpoint or r.port or r.protocol:
                    continue
                target = _Target(host=svc.external_name, key=fqdn, ttl=self.ttl)
                if target.host_type == CNAME:
                    out.append(target)
                    found = True
                continue
            if svc.headless or r.endpoint:
                for sl in self.endpoints.get((svc.namespace, svc.name), []):
                    for a in sl.addresses:
                        if r.endpoint and r.endpoint != a.label.lower():
                            continue
                        for p in sl.ports:
                            if not _port_matches(r, p.name, p.protocol):
                                continue
                            out.append(_Target(a.ip, p.port, f"{a.label}.{fqdn}", self.ttl))
                            found = True
                continue
            for sp in svc.ports:
                if not _port_matches(r, sp.name, sp.protocol):
                    continue
                found = True
                for ip in svc.cluster_ips:
                    out.append(_Target(str(ip), sp.port, fqdn, self.ttl))
        return out if found else None

    def _reverse(self, ip: IPAddress) -> list[str]:
        """serviceRecordForIP: a ClusterIP names its Service, else each Service the address
        is an endpoint of names it by the endpoint's label."""
        svc = self._cluster_ip.get(ip)
        if svc is not None:
            return [f"{svc.name}.{svc.namespace}.svc.{self.origin}"]
        return self._endpoint_names.get(ip, [])

    def _ns_addresses(self, zone: dns.name.Name) -> list[tuple[str, IPAddress]]:
        """nsAddrs: the names and addresses of the kube-dns Service (the Service CoreDNS serves
        behind). Without one there is no NS data."""
        out = []
        for svc in self.services.get((DNS_NAMESPACE, DNS_SERVICE), []):
            name = f"{svc.name}.{svc.namespace}.svc.{zone}"
            if svc.headless:
                for sl in self.endpoints.get((svc.namespace, svc.name), []):
                    for a in sl.addresses:
                        ip = _parse_ip(a.ip)
                        if ip is not None:
                            out.append((f"{a.label}.{name}", ip))
            else:
                out.extend((name, ip) for ip in svc.cluster_ips)
        return out

    @property
    def _soa_ttl(self) -> int:
        return min(self.ttl, 300)

    def _soa_text(self, zone: dns.name.Name) -> str:
        return (
            f"ns.dns.{zone} hostmaster.{zone} {self.serial}"
            f" {SOA_REFRESH} {SOA_RETRY} {SOA_EXPIRE} {self.ttl}"
        )


# --- helpers --------------------------------------------------------------------------------------


def _labels(qname: dns.name.Name, zone: dns.name.Name) -> tuple[str, ...]:
    """The labels of `qname` below `zone`, lower-cased (DNS names match case-insensitively)."""
    return tuple(label.decode("latin-1").lower() for label in qname.relativize(zone).labels)


def _parse(segs: tuple[str, ...]) -> _Request:
    """parse.go parseRequest: `[ep|_port._proto].svc.ns.(svc|pod)`."""
    if not segs or segs in (("svc",), ("pod",)):
        return _Request()
    pod_or_svc = segs[-1]
    if pod_or_svc not in ("svc", "pod"):
        return _INVALID
    rest = segs[:-1]
    if len(rest) > 4:
        return _INVALID
    namespace = rest[-1] if len(rest) >= 1 else ""
    service = rest[-2] if len(rest) >= 2 else ""
    endpoint = port = protocol = ""
    if len(rest) == 3:
        endpoint = rest[0]
    elif len(rest) == 4:
        port, protocol = rest[0].removeprefix("_"), rest[1].removeprefix("_")
    return _Request(pod_or_svc, namespace, service, endpoint, port, protocol)


def _port_matches(r: _Request, name: str, protocol: str) -> bool:
    return (not r.port or r.port == name.lower()) and (
        not r.protocol or r.protocol == protocol.lower()
    )


def _is_default_ns(qname: dns.name.Name, zone: dns.name.Name) -> bool:
    """`ns.dns.<zone>`: the name of the zone's server in its SOA."""
    labels = qname.labels
    return (
        len(labels) == len(zone.labels) + 2
        and labels[0].lower() == b"ns"
        and labels[1].lower() == b"dns"
        and qname.is_subdomain(zone)
    )


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def address_type(ip: IPAddress | int) -> RdataType:
    """The record type holding an address (or the addresses of an IP version): A or AAAA."""
    return _ADDRESS_TYPES[family(ip).version]


def _ip_order(ip: IPv4Address | IPv6Address) -> tuple[int, int]:
    return (ip.version, int(ip))


def _rrsets(items: Iterable[_Item]) -> Iterator[dns.rrset.RRset]:
    """RRsets from (owner, type, ttl, data) in order; consecutive records of one owner and type
    share a set."""
    current: dns.rrset.RRset | None = None
    for owner, rdtype, ttl, data in items:
        if current is None or current.name != owner or current.rdtype != rdtype:
            if current is not None:
                yield current
            current = dns.rrset.RRset(owner, IN, rdtype)
        text = data.to_text() if isinstance(data, dns.name.Name) else str(data)
        current.add(dns.rdata.from_text(IN, rdtype, text), ttl)
    if current is not None:
        yield current


def _serial(cluster: Cluster) -> int:
    """A SOA serial that changes when the cluster's DNS data changes (CoreDNS uses the time of
    the last change it saw, which a model does not have)."""
    parts: list[str] = [cluster.config.dns_domain, str(cluster.config.dns_ttl)]
    parts += sorted(cluster.namespaces)
    for svc in cluster.services:
        parts.append(
            f"{svc.key} {svc.type} {svc.cluster_ips} {svc.headless} {svc.external_name}"
            f" {[(p.port, p.name, p.protocol) for p in svc.ports]}"
        )
    for eps in cluster.endpoint_slices:
        parts.append(f"{eps.namespace}/{eps.name} {eps.service_name} {eps.endpoints} {eps.ports}")
    for pod in cluster.pods:
        parts.append(f"{pod.key} {pod.ips}")
    return zlib.crc32("\n".join(parts).encode()) or 1
