"""The DNS server, tested with real clients over real sockets on 127.0.0.1: the record table over
UDP and TCP (dnspython), dnspython's stub resolver, `dig`, protocol corner cases, an upstream,
and garbage that must never take it down."""

from __future__ import annotations

import os
import random
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import ip_address

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest

from podnet.dns.records import ClusterZone, rr_lines
from podnet.dns.server import (
    Address,
    Responder,
    ServerThread,
    _fast_key,
    formerr,
    parse_address,
)
from podnet.errors import InvalidValue
from podnet.model.cluster import Cluster
from podnet.model.config import ClusterConfig
from podnet.model.objects import Namespace
from tests.test_dns_records import CASES, _svc, check, make_cluster

TIMEOUT = 3.0


@pytest.fixture(scope="module")
def zone() -> ClusterZone:
    return ClusterZone(make_cluster())


@pytest.fixture(scope="module")
def server(zone: ClusterZone) -> Iterator[Address]:
    with ServerThread(zone) as thread:
        yield thread.address


def ask(server: Address, qname: str, qtype: str, *, tcp: bool = False, **kw) -> dns.message.Message:
    q = dns.message.make_query(qname, qtype, **kw)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(q, server.host, timeout=TIMEOUT, port=server.port)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("c", CASES, ids=lambda c: f"{c['qname']}-{c['qtype']}")
def test_table_over_the_wire(server: Address, zone: ClusterZone, c: dict, transport: str) -> None:
    r = ask(server, c["qname"], c["qtype"], tcp=transport == "tcp", use_edns=0, payload=4096)
    check(
        zone,
        c,
        dns.rcode.to_text(r.rcode()),
        rr_lines(r.answer),
        rr_lines(r.authority),
        rr_lines(r.additional),
    )
    assert bool(r.flags & dns.flags.AA) == (c["rcode"] != "REFUSED")
    assert r.flags & dns.flags.QR and not r.flags & dns.flags.TC


def test_cached_answers_keep_the_id_and_the_question_case(server: Address) -> None:
    for qname in ("svc1.testns.svc.cluster.local.", "SvC1.TESTNS.svc.Cluster.Local.") * 3:
        q = dns.message.make_query(qname, "A")
        r = dns.query.udp(q, server.host, timeout=TIMEOUT, port=server.port)
        assert r.id == q.id
        assert r.question[0].name.to_text() == qname  # byte for byte, as 0x20 resolvers check
        assert r.answer[0].name.to_text() == qname
        assert [rd.to_text() for rd in r.answer[0]] == ["10.96.0.1"]
        assert r.flags & dns.flags.RD


def test_rd_and_cd_are_echoed(server: Address) -> None:
    q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A")
    q.flags = dns.flags.CD  # no RD
    r = dns.query.udp(q, server.host, timeout=TIMEOUT, port=server.port)
    assert r.flags & dns.flags.CD and not r.flags & dns.flags.RD


def test_dnspython_resolver(server: Address) -> None:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [server.host]
    res.port = server.port
    res.search = [dns.name.from_text("testns.svc.cluster.local")]
    res.ndots = 5
    res.lifetime = TIMEOUT
    assert [r.to_text() for r in res.resolve("svc1", "A", search=True)] == ["10.96.0.1"]
    assert sorted(r.to_text() for r in res.resolve("hdls1.testns.svc.cluster.local.", "A")) == [
        "172.0.0.2",
        "172.0.0.3",
        "172.0.0.4",
        "172.0.0.5",
    ]
    with pytest.raises(dns.resolver.NXDOMAIN):
        res.resolve("svc0.testns.svc.cluster.local.", "A")
    with pytest.raises(dns.resolver.NoAnswer):
        res.resolve("svc1.testns.svc.cluster.local.", "AAAA")
    ptr = res.resolve_address("10.96.0.1")
    assert [r.to_text() for r in ptr] == ["svc1.testns.svc.cluster.local."]
    srv = res.resolve("_http._tcp.svc1.testns.svc.cluster.local.", "SRV")
    assert [r.to_text() for r in srv] == ["0 100 80 svc1.testns.svc.cluster.local."]


def _dig(server: Address, *args: str) -> str:
    if shutil.which("dig") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dig (dnsutils) is required in CI")
        pytest.skip("dig (dnsutils) is not installed")
    out = subprocess.run(
        ["dig", f"@{server.host}", "-p", str(server.port), "+time=2", "+tries=1", *args],
        capture_output=True,
        text=True,
        timeout=20,
    )
    return out.stdout


@pytest.mark.parametrize(
    ("args", "status", "lines"),
    [
        (["svc1.testns.svc.cluster.local"], "NOERROR", ["10.96.0.1"]),
        (["+tcp", "hdls1.testns.svc.cluster.local", "AAAA"], "NOERROR", ["5678:abcd::1"]),
        (["-x", "10.96.0.1"], "NOERROR", ["svc1.testns.svc.cluster.local."]),
        (["_http._tcp.svc1.testns.svc.cluster.local", "SRV"], "NOERROR", ["0 100 80"]),
        (["+noedns", "svc0.testns.svc.cluster.local"], "NXDOMAIN", ["hostmaster.cluster.local."]),
        (["dns-version.cluster.local", "TXT"], "NOERROR", ['"1.1.0"']),
        (["example.com"], "REFUSED", []),
    ],
)
def test_dig(server: Address, args: list[str], status: str, lines: list[str]) -> None:
    out = _dig(server, *args)
    assert f"status: {status}" in out
    for text in lines:
        assert text in out


def test_dig_short(server: Address) -> None:
    out = _dig(server, "+short", "dup-name.hdls1.testns.svc.cluster.local")
    assert sorted(out.split()) == ["172.0.0.4", "172.0.0.5"]


# --- protocol corner cases ------------------------------------------------------------------------


def big_zone() -> ClusterZone:
    """A headless Service with 100 endpoints: its A answer needs more than 512 bytes."""
    from podnet.model.objects import Endpoint
    from tests.test_dns_records import _slice

    eps = [Endpoint((f"10.244.1.{i}",)) for i in range(1, 101)]
    cluster = Cluster(
        config=ClusterConfig(),
        namespaces={"big": Namespace("big", {})},
        nodes=(),
        pods=(),
        services=(_svc("many", "big", headless=True),),
        endpoint_slices=(_slice("many-1", "big", "many", "IPv4", eps),),
    )
    return ClusterZone(cluster)


def test_udp_truncates_and_tcp_carries_the_whole_answer() -> None:
    with ServerThread(big_zone()) as thread:
        s = thread.address
        name = "many.big.svc.cluster.local."
        for _ in range(2):  # built, then from the cache
            r = ask(s, name, "A")  # no EDNS: 512 bytes
            assert r.flags & dns.flags.TC and not r.answer and r.rcode() == dns.rcode.NOERROR
            r = ask(s, name, "A", use_edns=0, payload=1232)  # 1,600+ bytes do not fit either
            assert r.flags & dns.flags.TC and not r.answer
            assert r.edns == 0
            r = ask(s, name, "A", use_edns=0, payload=4096)
            assert not r.flags & dns.flags.TC and len(r.answer[0]) == 100
            r = ask(s, name, "A", tcp=True)
            assert not r.flags & dns.flags.TC and len(r.answer[0]) == 100
        r, used_tcp = dns.query.udp_with_fallback(
            dns.message.make_query(name, "A"), s.host, timeout=TIMEOUT, port=s.port
        )
        assert used_tcp and len(r.answer[0]) == 100


def test_edns(server: Address) -> None:
    r = ask(server, "svc1.testns.svc.cluster.local.", "A", use_edns=0, want_dnssec=True)
    assert r.edns == 0 and r.payload == 1232 and r.ednsflags & dns.flags.DO
    r = ask(server, "svc1.testns.svc.cluster.local.", "A", use_edns=0)
    assert r.edns == 0 and not r.ednsflags & dns.flags.DO
    r = ask(server, "svc1.testns.svc.cluster.local.", "A")
    assert r.edns == -1
    r = ask(server, "svc1.testns.svc.cluster.local.", "A", use_edns=1)
    assert r.rcode() == dns.rcode.BADVERS and not r.answer
    cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"\x01" * 8)
    r = ask(server, "svc1.testns.svc.cluster.local.", "A", use_edns=0, options=[cookie])
    assert r.rcode() == dns.rcode.NOERROR and r.answer


def test_opcodes_classes_and_question_counts(server: Address) -> None:
    q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A")
    q.set_opcode(dns.opcode.NOTIFY)
    r = dns.query.udp(q, server.host, timeout=TIMEOUT, port=server.port)
    assert r.rcode() == dns.rcode.NOTIMP
    q = dns.message.make_query("version.bind.", "TXT", rdclass=dns.rdataclass.CH)
    r = dns.query.udp(q, server.host, timeout=TIMEOUT, port=server.port)
    assert r.rcode() == dns.rcode.REFUSED
    q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A")
    q.question.append(q.question[0])
    r = dns.query.tcp(q, server.host, timeout=TIMEOUT, port=server.port)
    assert r.rcode() == dns.rcode.FORMERR
    q = dns.message.make_query("cluster.local.", "AXFR")
    r = dns.query.tcp(q, server.host, timeout=TIMEOUT, port=server.port)
    assert r.rcode() == dns.rcode.REFUSED


def test_several_queries_on_one_tcp_connection(server: Address) -> None:
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        queries = [
            dns.message.make_query(name, "A")
            for name in ("svc1.testns.svc.cluster.local.", "svc0.testns.svc.cluster.local.")
        ]
        sock.sendall(b"".join(q.to_wire(prepend_length=True) for q in queries))
        for q in queries:
            length = struct.unpack("!H", _recv(sock, 2))[0]
            r = dns.message.from_wire(_recv(sock, length))
            assert r.id == q.id


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


# --- garbage --------------------------------------------------------------------------------------


def _udp_exchange(server: Address, payload: bytes, timeout: float = 0.3) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, (server.host, server.port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def _still_answers(server: Address) -> None:
    r = ask(server, "svc1.testns.svc.cluster.local.", "A")
    assert [rd.to_text() for rd in r.answer[0]] == ["10.96.0.1"]


def test_malformed_udp_never_crashes_it(zone: ClusterZone) -> None:
    rng = random.Random(1234)
    good = dns.message.make_query("svc1.testns.svc.cluster.local.", "A", use_edns=0).to_wire()
    samples: list[bytes] = [b"", b"\x00", b"\xff" * 11, good[:12], good[:-1], good + b"junk"]
    samples += [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 600))) for _ in range(200)]
    for _ in range(200):  # bit flips of a good query
        b = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        samples.append(bytes(b))
    samples += [good[:i] for i in range(len(good))]
    # A compression loop in the question, a pointer past the end, a label longer than 63.
    samples.append(good[:12] + b"\xc0\x0c\x00\x01\x00\x01")
    samples.append(good[:12] + b"\xc0\xff\x00\x01\x00\x01")
    samples.append(good[:12] + b"\x50" + b"a" * 80 + b"\x00\x00\x01\x00\x01")
    with ServerThread(zone) as thread:
        s = thread.address
        for payload in samples:
            reply = _udp_exchange(s, payload, timeout=0.02)
            if reply is not None:
                assert reply[:2] == payload[:2]  # the query's ID
                assert reply[2] & 0x80  # QR
        _still_answers(s)
        # A query that cannot be parsed but has a header gets FORMERR.
        reply = _udp_exchange(s, good[:12] + b"\x05abc", timeout=TIMEOUT)
        assert reply is not None and reply[3] & 0x0F == dns.rcode.FORMERR
        # A response is never answered (no reflection loops).
        r = dns.message.make_response(dns.message.make_query("x.", "A")).to_wire()
        assert _udp_exchange(s, r) is None
        _still_answers(s)


def test_malformed_tcp_never_crashes_it(zone: ClusterZone) -> None:
    rng = random.Random(99)
    with ServerThread(zone) as thread:
        s = thread.address
        for _ in range(30):
            with socket.create_connection((s.host, s.port), timeout=TIMEOUT) as sock:
                junk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300)))
                sock.sendall(struct.pack("!H", rng.randrange(0, 65536)) + junk)
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(0.5)
                try:
                    while sock.recv(65535):
                        pass
                except (TimeoutError, ConnectionError):
                    pass
        with socket.create_connection((s.host, s.port), timeout=TIMEOUT) as sock:
            sock.sendall(b"\x00")  # half a length prefix, then nothing
        _still_answers(s)
        r = ask(s, "svc1.testns.svc.cluster.local.", "A", tcp=True)
        assert r.answer


def test_formerr_header() -> None:
    assert formerr(b"\x12\x34\x01\x00") is None
    reply = formerr(b"\x12\x34\x01\x00" + b"\x00" * 8 + b"junk")
    assert reply is not None and reply[:2] == b"\x12\x34" and reply[3] == dns.rcode.FORMERR
    assert formerr(b"\x12\x34\x81\x00" + b"\x00" * 8) is None  # a response


def test_fast_key_keeps_types_apart() -> None:
    # Lower-casing the question must not touch the type: 0x0041 (HTTPS) is not 0x0061.
    https = dns.message.make_query("A.example.", 65).to_wire()
    other = dns.message.make_query("a.example.", 97).to_wire()
    assert _fast_key(https) is not None and _fast_key(other) is not None
    assert _fast_key(https)[0] != _fast_key(other)[0]  # type: ignore[index]
    assert (
        _fast_key(dns.message.make_query("A.example.", "A").to_wire())[0]  # type: ignore[index]
        == _fast_key(dns.message.make_query("a.EXAMPLE.", "A").to_wire())[0]  # type: ignore[index]
    )


def test_responder_without_sockets(zone: ClusterZone) -> None:
    responder = Responder(zone)
    q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A")
    for _ in range(2):
        wire = responder.respond(q.to_wire(), 512)
        assert isinstance(wire, bytes)
        assert dns.message.from_wire(wire).answer[0][0].to_text() == "10.96.0.1"
    assert len(responder.cache) == 1


# --- upstream -------------------------------------------------------------------------------------


def upstream_zone() -> ClusterZone:
    """The 'internet' for these tests: another cluster whose domain is example.com."""
    cluster = make_cluster()
    cluster = replace(
        cluster,
        config=replace(cluster.config, dns_domain="example.com"),
        services=(*cluster.services, _svc("web", "testns", "192.0.2.80")),
    )
    return ClusterZone(cluster)


def test_upstream_forwarding() -> None:
    cluster = make_cluster()
    cluster = replace(
        cluster,
        services=(
            *cluster.services,
            _svc(
                "site",
                "testns",
                ports=(),
                type="ExternalName",
                external_name="web.testns.svc.example.com",
            ),
        ),
    )
    with (
        ServerThread(upstream_zone()) as up,
        ServerThread(ClusterZone(cluster), upstream=up.address) as thread,
    ):
        s = thread.address
        # Outside the cluster domain: forwarded, the upstream's response relayed.
        r = ask(s, "svc1.testns.svc.example.com.", "A")
        assert r.rcode() == dns.rcode.NOERROR
        assert [rd.to_text() for rd in r.answer[0]] == ["10.96.0.1"]
        # An ExternalName: the CNAME, then the upstream's answer for its target.
        r = ask(s, "site.testns.svc.cluster.local.", "A", tcp=True)
        assert rr_lines(r.answer) == [
            "site.testns.svc.cluster.local. 30 IN CNAME web.testns.svc.example.com.",
            "web.testns.svc.example.com. 30 IN A 192.0.2.80",
        ]
        # A reverse name the cluster does not know falls through to the upstream.
        r = ask(s, ip_address("192.0.2.80").reverse_pointer + ".", "PTR")
        assert rr_lines(r.answer)[0].endswith("PTR web.testns.svc.example.com.")
        # Cluster names are still the cluster's.
        r = ask(s, "svc1.testns.svc.cluster.local.", "A")
        assert r.flags & dns.flags.AA and r.answer


def test_upstream_that_does_not_answer_gives_servfail() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        import podnet.dns.server as server_mod

        old = server_mod.UPSTREAM_TIMEOUT
        server_mod.UPSTREAM_TIMEOUT = 0.3
        try:
            with ServerThread(
                ClusterZone(make_cluster()), upstream=Address("127.0.0.1", port)
            ) as t:
                r = ask(t.address, "example.org.", "A")
                assert r.rcode() == dns.rcode.SERVFAIL
        finally:
            server_mod.UPSTREAM_TIMEOUT = old


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1", Address("127.0.0.1", 53)),
        ("127.0.0.1:5353", Address("127.0.0.1", 5353)),
        ("[::1]:5353", Address("::1", 5353)),
        ("::1", Address("::1", 53)),
    ],
)
def test_parse_address(text: str, address: Address) -> None:
    assert parse_address(text, 53) == address


@pytest.mark.parametrize("text", ["localhost", "127.0.0.1:x", "1.2.3.4:70000", "[::1]x"])
def test_parse_address_errors(text: str) -> None:
    with pytest.raises(InvalidValue):
        parse_address(text, 53)
