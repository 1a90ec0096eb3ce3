"""Cluster DNS records, as CoreDNS's `kubernetes` plugin tests them: a table of
{qname, qtype, rcode, answer, ns, extra} with records written as zone-file lines.

The same table runs against the live server in test_dns_server.py.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address
from typing import Any

import dns.name
import dns.rcode
import dns.rrset
import pytest

from podnet.dns.records import ClusterZone, endpoint_label, reverse_address, rr_lines
from podnet.model.cluster import Cluster
from podnet.model.config import ClusterConfig
from podnet.model.objects import (
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Namespace,
    Pod,
    Service,
    ServicePort,
)

SERVICE_NAME = "kubernetes.io/service-name"


def _svc(name: str, ns: str, *ips: str, ports=(("http", 80, "TCP"),), **kw: Any) -> Service:
    return Service(
        name,
        ns,
        {},
        {"app": name},
        tuple(ServicePort(port, proto, pname) for pname, port, proto in ports),
        cluster_ips=tuple(ip_address(i) for i in ips),
        **kw,
    )


def _slice(name: str, ns: str, service: str, family: str, endpoints, ports=(("http", 80, "TCP"),)):
    return EndpointSlice(
        name,
        ns,
        {SERVICE_NAME: service},
        family,
        tuple(endpoints),
        tuple(EndpointPort(port, proto, pname) for pname, port, proto in ports),
    )


def make_cluster(ttl: int = 30, pods: str = "insecure") -> Cluster:
    """CoreDNS's handler_test.go data, on kubeadm's addresses."""
    services = (
        _svc("kube-dns", "kube-system", "10.96.0.10", ports=(("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP"))),
        _svc("svc1", "testns", "10.96.0.1"),
        _svc("svcempty", "testns", "10.96.0.2"),
        _svc("svc6", "testns", "1234:abcd::1"),
        _svc("svc-dual-stack", "testns", "10.96.0.3", "fd00:10:96::3"),
        _svc("multiport", "testns", "10.96.0.4", ports=(("http", 80, "TCP"), ("dns", 53, "UDP"), ("https", 443, "TCP"))),
        _svc("hdls1", "testns", headless=True),
        _svc("hdlsprtls", "testns", ports=(), headless=True),
        _svc("hdlsempty", "testns", headless=True),
        _svc("svca", "testns", "10.96.0.5"),
        _svc("svcb", "testns", "10.96.0.6"),
        _svc("external", "testns", ports=(), type="ExternalName", external_name="ext.interwebs.test"),
        _svc("external-to-service", "testns", ports=(), type="ExternalName", external_name="svc1.testns.svc.cluster.local"),
    )  # fmt: skip
    slices = (
        _slice("kube-dns-1", "kube-system", "kube-dns", "IPv4", [Endpoint(("10.244.0.2",)), Endpoint(("10.244.0.3",))], ports=(("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"))),
        _slice("svc1-1", "testns", "svc1", "IPv4", [Endpoint(("172.0.0.1",), hostname="ep1a")]),
        _slice("hdls1-v4", "testns", "hdls1", "IPv4", [
            Endpoint(("172.0.0.2",)),
            Endpoint(("172.0.0.3",)),
            Endpoint(("172.0.0.4",), hostname="dup-name"),
            Endpoint(("172.0.0.5",), hostname="dup-name"),
            Endpoint(("172.0.0.6",), ready=False),
        ]),
        _slice("hdls1-v6", "testns", "hdls1", "IPv6", [Endpoint(("5678:abcd::1",)), Endpoint(("5678:abcd::2",))]),
        _slice("hdlsprtls-1", "testns", "hdlsprtls", "IPv4", [Endpoint(("172.0.0.20",))], ports=()),
        _slice("svca-1", "testns", "svca", "IPv4", [Endpoint(("10.244.1.7",))]),
        _slice("svcb-1", "testns", "svcb", "IPv4", [Endpoint(("10.244.1.7",))]),
    )  # fmt: skip
    pod = Pod("pod-a", "podns", {}, node_name="node-1", ips=(ip_address("10.244.1.9"),))
    names = ("default", "kube-system", "podns", "testns")
    return Cluster(
        config=ClusterConfig(dns_ttl=ttl, dns_pods=pods),
        namespaces={n: Namespace(n, {}) for n in names},
        nodes=(),
        pods=(pod,),
        services=services,
        endpoint_slices=slices,
    )


SOA = "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200 1800 86400 30"
SOA_V4 = "in-addr.arpa. 30 IN SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. SERIAL 7200 1800 86400 30"
NOERROR, NXDOMAIN, REFUSED = "NOERROR", "NXDOMAIN", "REFUSED"


def case(qname: str, qtype: str, rcode: str, answer=(), ns=(), extra=(), upstream=None) -> dict:
    return {
        "qname": qname,
        "qtype": qtype,
        "rcode": rcode,
        "answer": list(answer),
        "ns": list(ns),
        "extra": list(extra),
        "upstream": upstream,
    }


CASES = [
    # ClusterIP Services: A, AAAA, dual stack, NODATA for the other family
    case("svc1.testns.svc.cluster.local.", "A", NOERROR, ["svc1.testns.svc.cluster.local. 30 IN A 10.96.0.1"]),
    case("svcempty.testns.svc.cluster.local.", "A", NOERROR, ["svcempty.testns.svc.cluster.local. 30 IN A 10.96.0.2"]),
    case("svc1.testns.svc.cluster.local.", "AAAA", NOERROR, ns=[SOA]),
    case("svc6.testns.svc.cluster.local.", "AAAA", NOERROR, ["svc6.testns.svc.cluster.local. 30 IN AAAA 1234:abcd::1"]),
    case("svc6.testns.svc.cluster.local.", "A", NOERROR, ns=[SOA]),
    case("svc-dual-stack.testns.svc.cluster.local.", "A", NOERROR, ["svc-dual-stack.testns.svc.cluster.local. 30 IN A 10.96.0.3"]),
    case("svc-dual-stack.testns.svc.cluster.local.", "AAAA", NOERROR, ["svc-dual-stack.testns.svc.cluster.local. 30 IN AAAA fd00:10:96::3"]),
    # Case-insensitive matching; the answer keeps the question's spelling
    case("SVC1.TestNS.Svc.Cluster.Local.", "A", NOERROR, ["SVC1.TestNS.Svc.Cluster.Local. 30 IN A 10.96.0.1"]),
    # SRV: named ports, with port labels and without; glue in the additional section
    case("_http._tcp.svc1.testns.svc.cluster.local.", "SRV", NOERROR,
         ["_http._tcp.svc1.testns.svc.cluster.local. 30 IN SRV 0 100 80 svc1.testns.svc.cluster.local."],
         extra=["svc1.testns.svc.cluster.local. 30 IN A 10.96.0.1"]),
    case("svc1.testns.svc.cluster.local.", "SRV", NOERROR,
         ["svc1.testns.svc.cluster.local. 30 IN SRV 0 100 80 svc1.testns.svc.cluster.local."],
         extra=["svc1.testns.svc.cluster.local. 30 IN A 10.96.0.1"]),
    case("_http._tcp.svc6.testns.svc.cluster.local.", "SRV", NOERROR,
         ["_http._tcp.svc6.testns.svc.cluster.local. 30 IN SRV 0 100 80 svc6.testns.svc.cluster.local."],
         extra=["svc6.testns.svc.cluster.local. 30 IN AAAA 1234:abcd::1"]),
    case("svc-dual-stack.testns.svc.cluster.local.", "SRV", NOERROR,
         ["svc-dual-stack.testns.svc.cluster.local. 30 IN SRV 0 50 80 svc-dual-stack.testns.svc.cluster.local."],
         extra=["svc-dual-stack.testns.svc.cluster.local. 30 IN A 10.96.0.3",
                "svc-dual-stack.testns.svc.cluster.local. 30 IN AAAA fd00:10:96::3"]),
    case("multiport.testns.svc.cluster.local.", "SRV", NOERROR,
         ["multiport.testns.svc.cluster.local. 30 IN SRV 0 33 80 multiport.testns.svc.cluster.local.",
          "multiport.testns.svc.cluster.local. 30 IN SRV 0 33 53 multiport.testns.svc.cluster.local.",
          "multiport.testns.svc.cluster.local. 30 IN SRV 0 33 443 multiport.testns.svc.cluster.local."],
         extra=["multiport.testns.svc.cluster.local. 30 IN A 10.96.0.4"]),
    case("_dns._udp.multiport.testns.svc.cluster.local.", "SRV", NOERROR,
         ["_dns._udp.multiport.testns.svc.cluster.local. 30 IN SRV 0 100 53 multiport.testns.svc.cluster.local."],
         extra=["multiport.testns.svc.cluster.local. 30 IN A 10.96.0.4"]),
    case("_dns._tcp.multiport.testns.svc.cluster.local.", "SRV", NXDOMAIN, ns=[SOA]),
    case("_nope._tcp.svc1.testns.svc.cluster.local.", "SRV", NXDOMAIN, ns=[SOA]),
    case("_http._tcp.svc1.testns.svc.cluster.local.", "A", NOERROR, ["_http._tcp.svc1.testns.svc.cluster.local. 30 IN A 10.96.0.1"]),
    case("svc1.testns.svc.cluster.local.", "TXT", NOERROR, ns=[SOA]),
    # Headless: one A per ready endpoint address, AAAA for the IPv6 slice
    case("hdls1.testns.svc.cluster.local.", "A", NOERROR, [
        "hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2",
        "hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3",
        "hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.4",
        "hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.5"]),
    case("hdls1.testns.svc.cluster.local.", "AAAA", NOERROR, [
        "hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::1",
        "hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::2"]),
    case("hdlsprtls.testns.svc.cluster.local.", "A", NOERROR, ["hdlsprtls.testns.svc.cluster.local. 30 IN A 172.0.0.20"]),
    case("hdlsempty.testns.svc.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    # Endpoint names: the hostname, else the dashed IP ("--" for "::"); not-ready ones are absent
    case("172-0-0-2.hdls1.testns.svc.cluster.local.", "A", NOERROR, ["172-0-0-2.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2"]),
    case("5678-abcd--1.hdls1.testns.svc.cluster.local.", "AAAA", NOERROR, ["5678-abcd--1.hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::1"]),
    case("dup-name.hdls1.testns.svc.cluster.local.", "A", NOERROR, [
        "dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.4",
        "dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.5"]),
    case("172-0-0-6.hdls1.testns.svc.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("bogusendpoint.hdls1.testns.svc.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("172-0-0-20.hdlsprtls.testns.svc.cluster.local.", "A", NOERROR, ["172-0-0-20.hdlsprtls.testns.svc.cluster.local. 30 IN A 172.0.0.20"]),
    case("ep1a.svc1.testns.svc.cluster.local.", "A", NOERROR, ["ep1a.svc1.testns.svc.cluster.local. 30 IN A 172.0.0.1"]),
    case("bogusendpoint.svc0.testns.svc.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    # Headless SRV: ready endpoints x named ports, targets by endpoint name, weights shared
    case("_http._tcp.hdls1.testns.svc.cluster.local.", "SRV", NOERROR, [
        "_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.",
        "_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 172-0-0-3.hdls1.testns.svc.cluster.local.",
        "_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local.",
        "_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.",
        "_http._tcp.hdls1.testns.svc.cluster.local. 30 IN SRV 0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local."],
        extra=[
        "172-0-0-2.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.2",
        "172-0-0-3.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.3",
        "dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.4",
        "dup-name.hdls1.testns.svc.cluster.local. 30 IN A 172.0.0.5",
        "5678-abcd--1.hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::1",
        "5678-abcd--2.hdls1.testns.svc.cluster.local. 30 IN AAAA 5678:abcd::2"]),
    case("hdlsprtls.testns.svc.cluster.local.", "SRV", NOERROR, ns=[SOA]),
    # ExternalName: a CNAME, the target left to the upstream resolver; nothing below it
    case("external.testns.svc.cluster.local.", "CNAME", NOERROR, ["external.testns.svc.cluster.local. 30 IN CNAME ext.interwebs.test."]),
    case("external.testns.svc.cluster.local.", "A", NOERROR, ["external.testns.svc.cluster.local. 30 IN CNAME ext.interwebs.test."],
         upstream="ext.interwebs.test."),
    case("external.testns.svc.cluster.local.", "SRV", NOERROR, ns=[SOA]),
    case("endpoint.external.testns.svc.cluster.local.", "CNAME", NXDOMAIN, ns=[SOA]),
    case("endpoint.external.testns.svc.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("_http._tcp.external.testns.svc.cluster.local.", "SRV", NXDOMAIN, ns=[SOA]),
    case("external-to-service.testns.svc.cluster.local.", "A", NOERROR, [
        "external-to-service.testns.svc.cluster.local. 30 IN CNAME svc1.testns.svc.cluster.local.",
        "svc1.testns.svc.cluster.local. 30 IN A 10.96.0.1"]),
    case("svc1.testns.svc.cluster.local.", "CNAME", NOERROR, ns=[SOA]),
    # PTR: a ClusterIP names its Service; an endpoint IP names every Service it backs
    case("1.0.96.10.in-addr.arpa.", "PTR", NOERROR, ["1.0.96.10.in-addr.arpa. 30 IN PTR svc1.testns.svc.cluster.local."]),
    case("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.", "PTR", NOERROR,
         ["1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa. 30 IN PTR svc6.testns.svc.cluster.local."]),
    case("4.0.0.172.in-addr.arpa.", "PTR", NOERROR, ["4.0.0.172.in-addr.arpa. 30 IN PTR dup-name.hdls1.testns.svc.cluster.local."]),
    case("2.0.0.172.in-addr.arpa.", "PTR", NOERROR, ["2.0.0.172.in-addr.arpa. 30 IN PTR 172-0-0-2.hdls1.testns.svc.cluster.local."]),
    case("7.1.244.10.in-addr.arpa.", "PTR", NOERROR, [
        "7.1.244.10.in-addr.arpa. 30 IN PTR 10-244-1-7.svca.testns.svc.cluster.local.",
        "7.1.244.10.in-addr.arpa. 30 IN PTR 10-244-1-7.svcb.testns.svc.cluster.local."]),
    case("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa.", "PTR", NOERROR,
         ["1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa. 30 IN PTR 5678-abcd--1.hdls1.testns.svc.cluster.local."]),
    case("6.0.0.172.in-addr.arpa.", "PTR", NXDOMAIN, ns=[SOA_V4], upstream="6.0.0.172.in-addr.arpa."),
    case("1.1.168.192.in-addr.arpa.", "PTR", NXDOMAIN, ns=[SOA_V4], upstream="1.1.168.192.in-addr.arpa."),
    case("168.192.in-addr.arpa.", "PTR", NXDOMAIN, ns=[SOA_V4], upstream="168.192.in-addr.arpa."),
    case("svc1.testns.svc.cluster.local.", "PTR", NOERROR, ns=[SOA]),
    # Pods (insecure): any dashed IP under an existing namespace
    case("10-240-0-1.podns.pod.cluster.local.", "A", NOERROR, ["10-240-0-1.podns.pod.cluster.local. 30 IN A 10.240.0.1"]),
    case("fd00-10-244--5.podns.pod.cluster.local.", "AAAA", NOERROR, ["fd00-10-244--5.podns.pod.cluster.local. 30 IN AAAA fd00:10:244::5"]),
    case("10-240-0-1.podns.pod.cluster.local.", "AAAA", NOERROR, ns=[SOA]),
    case("blah.podns.pod.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("blah.podns.pod.cluster.local.", "HINFO", NXDOMAIN, ns=[SOA]),
    case("10-240-0-1.pod-nons.pod.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("podns.pod.cluster.local.", "A", NOERROR, ns=[SOA]),
    # Missing names, bare names and the apex
    case("svc0.testns.svc.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("svc0.testns.svc.cluster.local.", "AAAA", NXDOMAIN, ns=[SOA]),
    case("svc0.svc-nons.svc.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("svc0.svc-nons.svc.cluster.local.", "TXT", NXDOMAIN, ns=[SOA]),
    case("svc.cluster.local.", "A", NOERROR, ns=[SOA]),
    case("svc.cluster.local.", "TXT", NOERROR, ns=[SOA]),
    case("pod.cluster.local.", "A", NOERROR, ns=[SOA]),
    case("testns.svc.cluster.local.", "A", NOERROR, ns=[SOA]),
    case("nons.svc.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("cluster.local.", "A", NOERROR, ns=[SOA]),
    case("foo.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("a.b.c.svc1.testns.svc.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("svc1.testns.svc.cluster.local.", "MX", NOERROR, ns=[SOA]),
    case("svc0.testns.svc.cluster.local.", "MX", NXDOMAIN, ns=[SOA]),
    # The zone's own records
    case("dns-version.cluster.local.", "TXT", NOERROR, ['dns-version.cluster.local. 28800 IN TXT "1.1.0"']),
    case("cluster.local.", "SOA", NOERROR, [SOA]),
    case("svc1.testns.svc.cluster.local.", "SOA", NOERROR, ns=[SOA]),
    case("cluster.local.", "NS", NOERROR, ["cluster.local. 30 IN NS kube-dns.kube-system.svc.cluster.local."],
         extra=["kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10"]),
    case("ns.dns.cluster.local.", "A", NOERROR, ["ns.dns.cluster.local. 30 IN A 10.96.0.10"]),
    case("svc.cluster.local.", "NS", NOERROR, ns=[SOA]),
    case("foo.svc.cluster.local.", "NS", NXDOMAIN, ns=[SOA]),
    case("cluster.local.", "AXFR", REFUSED),
    # Outside the cluster's zones: refused here, for the upstream resolver
    case("example.com.", "A", REFUSED, upstream="example.com."),
    case("cluster.local.example.com.", "A", REFUSED, upstream="cluster.local.example.com."),
]  # fmt: skip


def norm(lines: list[str], serial: int) -> list[str]:
    """Zone-file lines in dnspython's canonical text, lower-cased and sorted."""
    out = []
    for line in lines:
        name, ttl, rdclass, rdtype, data = line.replace("SERIAL", str(serial)).split(None, 4)
        rrset = dns.rrset.from_text(name, int(ttl), rdclass, rdtype, data)
        out.append(rrset.to_text().lower())
    return sorted(out)


def check(zone: ClusterZone, c: dict, rcode: str, answer, authority, additional) -> None:
    """Compare one response with its table row (sections sorted, as CoreDNS's SortAndCheck)."""
    where = f"{c['qname']} {c['qtype']}"
    assert rcode == c["rcode"], where
    assert norm(answer, zone.serial) == norm(c["answer"], zone.serial), where
    assert norm(authority, zone.serial) == norm(c["ns"], zone.serial), where
    assert norm(additional, zone.serial) == norm(c["extra"], zone.serial), where


@pytest.fixture(scope="module")
def zone() -> ClusterZone:
    return ClusterZone(make_cluster())


@pytest.mark.parametrize("c", CASES, ids=lambda c: f"{c['qname']}-{c['qtype']}")
def test_records(zone: ClusterZone, c: dict) -> None:
    a = zone.answer(c["qname"], c["qtype"])
    check(
        zone,
        c,
        dns.rcode.to_text(a.rcode),
        rr_lines(a.answer),
        rr_lines(a.authority),
        rr_lines(a.additional),
    )
    assert (a.upstream.to_text() if a.upstream else None) == c["upstream"]
    assert a.authoritative == (c["rcode"] != REFUSED)


VERIFIED = [
    case("10-244-1-9.podns.pod.cluster.local.", "A", NOERROR, ["10-244-1-9.podns.pod.cluster.local. 30 IN A 10.244.1.9"]),
    case("10-244-1-9.testns.pod.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("10-240-0-1.podns.pod.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("podns.pod.cluster.local.", "A", NOERROR, ns=[SOA]),
]  # fmt: skip

DISABLED = [
    case("10-244-1-9.podns.pod.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("10-240-0-1.podns.pod.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("podns.pod.cluster.local.", "A", NXDOMAIN, ns=[SOA]),
    case("pod.cluster.local.", "A", NOERROR, ns=[SOA]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "c"),
    [("verified", c) for c in VERIFIED] + [("disabled", c) for c in DISABLED],
    ids=lambda x: x if isinstance(x, str) else x["qname"],
)
def test_pods_modes(mode: str, c: dict) -> None:
    zone = ClusterZone(make_cluster(pods=mode))
    a = zone.answer(c["qname"], c["qtype"])
    check(
        zone,
        c,
        dns.rcode.to_text(a.rcode),
        rr_lines(a.answer),
        rr_lines(a.authority),
        rr_lines(a.additional),
    )


def test_ttl_follows_the_configuration() -> None:
    zone = ClusterZone(make_cluster(ttl=5))
    a = zone.answer("svc1.testns.svc.cluster.local.", "A")
    assert rr_lines(a.answer) == ["svc1.testns.svc.cluster.local. 5 IN A 10.96.0.1"]
    soa = zone.answer("svc0.testns.svc.cluster.local.", "A").authority[0]
    assert soa.ttl == 5 and soa[0].minimum == 5
    # The SOA's own TTL is capped at 300 s; the negative TTL (minimum) is the configured one.
    soa = ClusterZone(make_cluster(ttl=3600)).answer("x.cluster.local.", "A").authority[0]
    assert (soa.ttl, soa[0].minimum) == (300, 3600)
    txt = zone.answer("dns-version.cluster.local.", "TXT").answer[0]
    assert txt.ttl == 28800


def test_other_cluster_domain() -> None:
    cluster = make_cluster()
    cluster = replace(cluster, config=replace(cluster.config, dns_domain="corp.example"))
    zone = ClusterZone(cluster)
    a = zone.answer("svc1.testns.svc.corp.example.", "A")
    assert a.addresses() == ["10.96.0.1"]
    assert zone.answer("svc1.testns.svc.cluster.local.", "A").upstream is not None
    ptr = zone.answer("1.0.96.10.in-addr.arpa.", "PTR")
    assert rr_lines(ptr.answer) == [
        "1.0.96.10.in-addr.arpa. 30 IN PTR svc1.testns.svc.corp.example."
    ]


def test_serial_is_stable_and_follows_the_data() -> None:
    assert ClusterZone(make_cluster()).serial == ClusterZone(make_cluster()).serial
    assert ClusterZone(make_cluster()).serial != ClusterZone(make_cluster(ttl=5)).serial


@pytest.mark.parametrize(
    ("ip", "hostname", "label"),
    [
        ("10.244.1.5", "", "10-244-1-5"),
        ("5678:abcd::1", "", "5678-abcd--1"),
        ("fd00::", "", "fd00--0"),
        ("10.244.1.5", "db-0", "db-0"),
    ],
)
def test_endpoint_label(ip: str, hostname: str, label: str) -> None:
    assert endpoint_label(ip, hostname) == label


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("10.0.96.10.in-addr.arpa.", "10.96.0.10"),
        ("0.96.10.in-addr.arpa.", None),
        ("x.0.96.10.in-addr.arpa.", None),
        ("300.0.96.10.in-addr.arpa.", None),
        (ip_address("fd00::1").reverse_pointer + ".", "fd00::1"),
        ("1.0.ip6.arpa.", None),
        ("example.com.", None),
    ],
)
def test_reverse_address(name: str, address: str | None) -> None:
    got = reverse_address(dns.name.from_text(name))
    assert (str(got) if got else None) == address


def test_names_cover_every_record_form(zone: ClusterZone) -> None:
    names = {(n, t.name) for n, t in zone.names()}
    assert ("svc1.testns.svc.cluster.local.", "A") in names
    assert ("svc6.testns.svc.cluster.local.", "AAAA") in names
    assert ("hdls1.testns.svc.cluster.local.", "AAAA") in names
    assert ("dup-name.hdls1.testns.svc.cluster.local.", "A") in names
    assert ("_http._tcp.svc1.testns.svc.cluster.local.", "SRV") in names
    assert ("external.testns.svc.cluster.local.", "CNAME") in names
    assert ("1.0.96.10.in-addr.arpa.", "PTR") in names
    assert ("dns-version.cluster.local.", "TXT") in names
    for name, rdtype in zone.names():  # every listed name answers positively
        assert zone.answer(name, rdtype).positive, (name, rdtype)
