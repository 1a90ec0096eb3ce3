"""A real DNS server answering from the model: UDP and TCP on asyncio, dnspython for the wire.

The only module of `podnet.dns` with sockets. Names in the cluster's zones (the cluster domain,
in-addr.arpa, ip6.arpa) are answered from `records.ClusterZone`; names outside them get REFUSED,
or are forwarded to the `upstream` resolver and its response relayed, as CoreDNS's `forward`
does. With an upstream, reverse names the cluster does not know (kubeadm's `fallthrough
in-addr.arpa ip6.arpa`) are forwarded too, and the target of an ExternalName CNAME is resolved
there and appended to the answer.

Protocol: one question per query (FORMERR otherwise), opcode QUERY (NOTIMP otherwise), class IN
(REFUSED otherwise), EDNS version 0 (BADVERS otherwise; the DO bit is echoed, the payload we
advertise is 1232). Over UDP a response larger than the client's payload (512 without EDNS) is
sent as a TC response holding only the question, so the client retries over TCP. A query that
does not parse gets FORMERR when its header can be read and is dropped otherwise; responses are
never answered.

Speed: the response to each (question, RD, CD, EDNS, DO) is built once and kept as wire bytes; a
repeated query is answered by splicing its ID and question (keeping the client's letter case)
into the cached bytes, without parsing it with dnspython, and a query byte-identical to an
earlier one but for its ID is a single dict look-up. The UDP socket is drained in batches from a
reader callback rather than through asyncio's datagram transport, which wakes the loop once per
datagram. Several worker processes can share a port with SO_REUSEPORT (`serve(..., workers=N)`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import dns.asyncquery
import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from podnet.dns.records import ClusterZone
from podnet.errors import PodnetError
from podnet.ipam.addresses import HostPort, join_host_port

OUR_PAYLOAD = 1232  # the EDNS buffer size of DNS Flag Day 2020
UDP_MIN = 512
MAX_CACHE = 100_000  # cached responses; the cache starts again when full
TCP_IDLE_TIMEOUT = 10.0
UPSTREAM_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Address:
    """Where a socket listens or sends: the host as text, the form sockets and dnspython take."""

    host: str
    port: int

    def __str__(self) -> str:
        return join_host_port(self.host, self.port)


def parse_address(text: str, default_port: int) -> Address:
    """`IP`, `IP:port` or `[IPv6]:port` as given on the command line; port 0 asks the kernel
    for a free one."""
    hp = HostPort.parse(text, default_port, lowest_port=0)
    return Address(str(hp.ip), hp.port)


# --- the query codec ------------------------------------------------------------------------------


def _fast_key(wire: bytes) -> tuple[bytes, int, int] | None:
    """For a plain query (one question, no compression, no RRs but an OPT of version 0): the cache
    key, where the question ends, and the largest UDP response the client takes. None sends the
    query down the slow path (dnspython), which handles everything else."""
    n = len(wire)
    if n < 17 or wire[2] & 0xF8 or wire[4:11] != b"\x00\x01\x00\x00\x00\x00\x00":
        return None  # a response, an opcode other than QUERY, or not exactly one question
    pos = 12
    while True:
        if pos >= n:
            return None
        length = wire[pos]
        if length == 0:
            break
        if length > 63:
            return None  # a compression pointer or a reserved label type
        pos += length + 1
    qend = pos + 5
    if qend > n or pos - 12 > 255:
        return None
    arcount = wire[11]
    if arcount == 0:
        if qend != n:
            return None
        limit, edns = UDP_MIN, b"N"
    elif arcount == 1:
        if n < qend + 11 or wire[qend] != 0 or wire[qend + 1 : qend + 3] != b"\x00\x29":
            return None
        if wire[qend + 6] != 0:  # EDNS version: BADVERS comes from the slow path
            return None
        if qend + 11 + int.from_bytes(wire[qend + 9 : qend + 11], "big") != n:
            return None
        limit = max(UDP_MIN, int.from_bytes(wire[qend + 3 : qend + 5], "big"))
        edns = b"D" if wire[qend + 7] & 0x80 else b"E"
    else:
        return None
    flags = bytes((wire[2] & 0x01, wire[3] & 0x10))  # RD, CD: echoed in the response
    return wire[12:pos].lower() + wire[pos:qend] + flags + edns, qend, limit


def _splice(wire: bytes, qend: int, cached: bytes) -> bytes:
    """The cached response with the query's ID and question (its letter case included)."""
    return wire[:2] + cached[2:12] + wire[12:qend] + cached[qend:]


def formerr(wire: bytes) -> bytes | None:
    """A FORMERR header for a query whose header can be read; None for anything else."""
    if len(wire) < 12 or wire[2] & 0x80:
        return None
    flags = 0x80 | (wire[2] & 0x79)  # QR, the query's opcode and RD
    return wire[:2] + bytes((flags, dns.rcode.FORMERR)) + b"\x00" * 8


@dataclass(slots=True)
class _Built:
    full: bytes
    truncated: bytes  # the TC response for UDP clients that cannot take `full`


class Responder:
    """Turns query bytes into response bytes, from the zone and (when given) an upstream."""

    def __init__(self, zone: ClusterZone, upstream: Address | None = None) -> None:
        self.zone = zone
        self.upstream = upstream
        self.cache: dict[bytes, _Built] = {}
        # UDP responses by the query's bytes after its ID, for repeats of the very same query.
        self.exact: dict[bytes, bytes] = {}

    def respond(self, wire: bytes, limit: int | None) -> bytes | None | Awaitable[bytes | None]:
        """The response to `wire` for a client that takes `limit` bytes (None: TCP, no limit
        but 65535), or an awaitable when the answer comes from upstream, or None to stay silent."""
        fast = _fast_key(wire)
        if fast is not None:
            key, qend, client_limit = fast
            built = self.cache.get(key)
            if built is None:
                try:
                    result = self._slow(wire, limit, fast)
                except Exception:  # never let one query take the server down
                    return _servfail(wire)
                built = self.cache.get(key)
                if built is None:  # not cacheable (upstream, errors)
                    return result
            full = built.full
            if limit is not None and len(full) > min(limit, client_limit):
                full = built.truncated
            response = _splice(wire, qend, full)
            if limit is not None:
                if len(self.exact) >= MAX_CACHE:
                    self.exact.clear()
                self.exact[wire[2:]] = response[2:]
            return response
        try:
            return self._slow(wire, limit, fast)
        except Exception:  # never let one query take the server down
            return formerr(wire)

    def _slow(
        self, wire: bytes, limit: int | None, fast: tuple[bytes, int, int] | None
    ) -> bytes | None | Awaitable[bytes | None]:
        try:
            query = dns.message.from_wire(wire)
        except dns.message.BadEDNS:
            return formerr(wire)
        except Exception:
            return formerr(wire)
        if query.flags & dns.flags.QR:
            return None
        response = self._response(query)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return self._wire(query, response, limit)
        if query.edns > 0:
            response.set_rcode(dns.rcode.BADVERS)
            return self._wire(query, response, limit)
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return self._wire(query, response, limit)
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return self._wire(query, response, limit)
        answer = self.zone.answer(question.name, question.rdtype)
        if answer.upstream is not None and self.upstream is not None:
            if answer.upstream == question.name:
                return self._forward(query, limit)
            return self._chase(query, response, answer, limit)
        if answer.authoritative:
            response.flags |= dns.flags.AA
        response.set_rcode(answer.rcode)
        response.answer = [rrset.copy() for rrset in answer.answer]
        response.authority = [rrset.copy() for rrset in answer.authority]
        response.additional = [rrset.copy() for rrset in answer.additional]
        built = self._build(query, response)
        if fast is not None:
            if len(self.cache) >= MAX_CACHE:
                self.cache.clear()
            self.cache[fast[0]] = built
        return self._pick(built, query, limit)

    def _response(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
        response.flags |= query.flags & dns.flags.CD
        if query.edns >= 0:
            response.use_edns(0, query.ednsflags & dns.flags.DO, OUR_PAYLOAD)
        return response

    def _build(self, query: dns.message.Message, response: dns.message.Message) -> _Built:
        try:
            full = response.to_wire(max_size=65535)
        except dns.exception.TooBig:
            response.additional = []
            try:
                full = response.to_wire(max_size=65535)
            except dns.exception.TooBig:
                full = b""
        tc = self._response(query)
        tc.set_rcode(response.rcode())
        tc.flags |= dns.flags.TC | (response.flags & dns.flags.AA)
        truncated = tc.to_wire()
        return _Built(full or truncated, truncated)

    def _pick(self, built: _Built, query: dns.message.Message, limit: int | None) -> bytes:
        if limit is None:
            return built.full
        client = max(UDP_MIN, query.payload) if query.edns >= 0 else UDP_MIN
        return built.full if len(built.full) <= min(limit, client) else built.truncated

    def _wire(
        self, query: dns.message.Message, response: dns.message.Message, limit: int | None
    ) -> bytes:
        return self._pick(self._build(query, response), query, limit)

    async def _forward(self, query: dns.message.Message, limit: int | None) -> bytes | None:
        """The upstream's response to the same query, relayed."""
        upstream = await self._ask_upstream(query)
        if upstream is None:
            response = self._response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
            return self._wire(query, response, limit)
        upstream.id = query.id
        return self._pick(self._build(query, upstream), query, limit)

    async def _chase(
        self,
        query: dns.message.Message,
        response: dns.message.Message,
        answer,
        limit: int | None,
    ) -> bytes | None:
        """The cluster's CNAME, followed by what the upstream answers for its target."""
        response.flags |= dns.flags.AA
        response.set_rcode(answer.rcode)
        response.answer = [rrset.copy() for rrset in answer.answer]
        response.authority = [rrset.copy() for rrset in answer.authority]
        question = query.question[0]
        target = dns.message.make_query(answer.upstream, question.rdtype)
        result = await self._ask_upstream(target)
        if result is not None:
            response.answer += result.answer
        return self._wire(query, response, limit)

    async def _ask_upstream(self, query: dns.message.Message) -> dns.message.Message | None:
        assert self.upstream is not None
        try:
            response, _ = await dns.asyncquery.udp_with_fallback(
                query, self.upstream.host, timeout=UPSTREAM_TIMEOUT, port=self.upstream.port
            )
        except (dns.exception.DNSException, OSError, EOFError):
            return None
        return response


def _servfail(wire: bytes) -> bytes | None:
    header = formerr(wire)
    return None if header is None else header[:3] + bytes((dns.rcode.SERVFAIL,)) + header[4:]


# --- transports -----------------------------------------------------------------------------------


class _UDP:
    """The UDP listener: a reader callback that drains the socket in batches, so one wake-up of
    the event loop serves many queries. A query byte-identical to an earlier one but for its ID
    (what a stub resolver or a load generator sends again) is answered from `Responder.exact`
    without being parsed at all."""

    BATCH = 256  # datagrams per wake-up, so TCP clients and upstream replies get their turn

    def __init__(self, responder: Responder, sock: socket.socket) -> None:
        self.responder = responder
        self.sock = sock
        self.backlog: collections.deque[tuple[bytes, tuple]] = collections.deque()
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Future[None]] = set()

    def start(self) -> None:
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.loop.remove_writer(self.sock.fileno())
        for task in self.tasks:
            task.cancel()

    def _readable(self) -> None:
        recvfrom, exact = self.sock.recvfrom, self.responder.exact
        for _ in range(self.BATCH):
            try:
                data, addr = recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error for a client that went away
            cached = exact.get(data[2:])
            if cached is not None:
                self._send(data[:2] + cached, addr)
                continue
            result = self.responder.respond(data, 65535)
            if isinstance(result, bytes):
                self._send(result, addr)
            elif result is not None:
                task = asyncio.ensure_future(self._later(result, addr))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    def _send(self, wire: bytes, addr: tuple) -> None:
        if self.backlog:
            self.backlog.append((wire, addr))
            return
        try:
            self.sock.sendto(wire, addr)
        except (BlockingIOError, InterruptedError):
            self.backlog.append((wire, addr))
            self.loop.add_writer(self.sock.fileno(), self._writable)
        except OSError:
            pass  # the client's address is unreachable: nothing to do for a datagram

    def _writable(self) -> None:
        while self.backlog:
            wire, addr = self.backlog[0]
            try:
                self.sock.sendto(wire, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                pass
            self.backlog.popleft()
        self.loop.remove_writer(self.sock.fileno())

    async def _later(self, pending: Awaitable[bytes | None], addr: tuple) -> None:
        with contextlib.suppress(Exception):
            wire = await pending
            if wire is not None:
                self._send(wire, addr)


async def _tcp_client(
    responder: Responder, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """RFC 7766: any number of length-prefixed queries on one connection, answered in order."""
    try:
        while True:
            header = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
            wire = await asyncio.wait_for(
                reader.readexactly(int.from_bytes(header, "big")), TCP_IDLE_TIMEOUT
            )
            result = responder.respond(wire, None)
            if result is not None and not isinstance(result, bytes):
                result = await result
            if result is not None:
                writer.write(len(result).to_bytes(2, "big") + result)
                await writer.drain()
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class CannotListen(PodnetError):
    """The address to serve on is taken or not this machine's."""


def bind(address: Address, *, reuse_port: bool = False) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same address and port (port 0: one ephemeral port)."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    port = address.port
    for attempt in range(20):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            for s in (udp, tcp):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            udp.bind((address.host, port))
            tcp.bind((address.host, udp.getsockname()[1]))
            tcp.listen(512)
            udp.setblocking(False)
            tcp.setblocking(False)
            return udp, tcp
        except OSError as err:
            udp.close()
            tcp.close()
            if port == 0 and attempt < 19:
                continue  # the ephemeral UDP port was taken for TCP: draw another one
            raise CannotListen(f"cannot listen on {address}: {err.strerror or err}") from None
    raise AssertionError("unreachable")


class Server:
    """The UDP and TCP listeners of one event loop."""

    def __init__(self, responder: Responder, sockets: tuple[socket.socket, socket.socket]):
        self.responder = responder
        self.sockets = sockets
        self._udp: _UDP | None = None
        self._tcp: asyncio.Server | None = None

    @property
    def address(self) -> Address:
        host, port = self.sockets[0].getsockname()[:2]
        return Address(host, port)

    async def start(self) -> None:
        udp, tcp = self.sockets
        self._udp = _UDP(self.responder, udp)
        self._udp.start()
        self._tcp = await asyncio.start_server(
            lambda r, w: _tcp_client(self.responder, r, w), sock=tcp
        )

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 1.0)


async def _serve_until(server: Server, stop: asyncio.Event) -> None:
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.close()


def serve(
    zone: ClusterZone,
    listen: Address,
    *,
    upstream: Address | None = None,
    workers: int = 1,
    ready: Callable[[Address], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM. With several workers, each is a forked process with its
    own sockets on the same port (SO_REUSEPORT); the kernel spreads clients over them."""
    sockets = bind(listen, reuse_port=workers > 1)
    address = Address(listen.host, sockets[0].getsockname()[1])
    # The zone lives as long as the server: keep the collector from walking it again and again
    # (pauses under load), and its pages shared between the forked workers.
    gc.collect()
    gc.freeze()
    children: list[int] = []
    try:
        for _ in range(workers - 1):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                code = 0
                try:
                    for s in sockets:
                        s.close()
                    _run_loop(Server(Responder(zone, upstream), bind(address, reuse_port=True)))
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            children.append(pid)
        if ready is not None:
            ready(address)
        _run_loop(Server(Responder(zone, upstream), sockets))
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _run_loop(server: Server) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await _serve_until(server, stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


class ServerThread:
    """A server on its own event loop in a background thread (tests, benches, tools)."""

    def __init__(
        self, zone: ClusterZone, listen: Address | None = None, upstream: Address | None = None
    ) -> None:
        self.server = Server(Responder(zone, upstream), bind(listen or Address("127.0.0.1", 0)))
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="podnet-dns", daemon=True)

    @property
    def address(self) -> Address:
        return self.server.address

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            await self.server.start()
            self._started.set()
            try:
                await self._stop.wait()
            finally:
                await self.server.close()

        self._loop.run_until_complete(main())
        self._loop.close()

    def start(self) -> ServerThread:
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        for s in self.server.sockets:
            s.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(zone: ClusterZone, upstream: Address | None = None) -> Iterator[Address]:
    """A server on 127.0.0.1 and an ephemeral port for the duration of the block."""
    with ServerThread(zone, upstream=upstream) as thread:
        yield thread.address
