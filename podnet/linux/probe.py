"""Real connections from inside network namespaces, many at once, with a short timeout.

Every socket is created by the event-loop thread after entering the source's namespace (and
leaving it at once): the socket stays in that namespace, and the loop drives them all. Outcomes:

- `open`: TCP connected, or a UDP reply came back; `identity` is what the probe agent answered
  (which pod was reached), or "" when the server was not the agent (the DNS server);
- `refused`: a TCP RST or an ICMP port unreachable: the packet reached a host that has nothing on
  that port, *or* kube-proxy's REJECT (no endpoints); either way policy let it through;
- `timeout`: nothing came back (dropped, as NetworkPolicy does);
- `unreachable`: an ICMP host/network unreachable or no route;
- `unsupported`: the protocol has no sockets here (SCTP).
"""

from __future__ import annotations

import asyncio
import errno
import os
import resource
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from podnet.kernel import netns as namespaces

DEFAULT_TIMEOUT = 1.0
DEFAULT_CONCURRENCY = 1000
OPEN, REFUSED, TIMEOUT, UNREACHABLE, UNSUPPORTED = (
    "open",
    "refused",
    "timeout",
    "unreachable",
    "unsupported",
)
_UNREACHABLE = (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM)


@dataclass(frozen=True, slots=True)
class Attempt:
    netns: str  # the source's namespace name
    ip: str
    port: int
    protocol: str  # TCP | UDP | SCTP


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    identity: str = ""  # the pod the agent answered for
    peer: str = ""  # the source address the agent saw

    @classmethod
    def answered(cls, data: bytes) -> Outcome:
        words = data.decode(errors="replace").split()
        return cls(OPEN, *words[:2])

    @property
    def reached(self) -> bool:
        """The packet got to a host that answered (policy let it through)."""
        return self.status in (OPEN, REFUSED)


def probe_query(ident: int = 0x504E) -> bytes:
    """A DNS query (`podnet-probe. A`): the agent answers any datagram, the DNS server a query."""
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    return header + b"\x0cpodnet-probe\x00" + struct.pack("!HH", 1, 1)


class _Namespaces:
    """Descriptors of source namespaces, and sockets made inside them."""

    def __init__(self) -> None:
        self.fds: dict[str, int] = {}
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    def socket(self, netns: str, kind: int) -> socket.socket:
        fd = self.fds.get(netns)
        if fd is None:
            fd = self.fds[netns] = namespaces.open_fd(netns)
        namespaces.setns(fd)
        try:
            sock = socket.socket(socket.AF_INET, kind)
        finally:
            namespaces.setns(self.home)
        sock.setblocking(False)
        return sock

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        os.close(self.home)


def _failed(err: OSError) -> Outcome:
    """A connection that did not open: timed out, refused or unreachable (anything else is not
    an answer of the network, and rises)."""
    if isinstance(err, TimeoutError):
        return Outcome(TIMEOUT)
    if isinstance(err, ConnectionRefusedError):
        return Outcome(REFUSED)
    if err.errno in _UNREACHABLE:
        return Outcome(UNREACHABLE)
    raise err


async def _tcp(ns: _Namespaces, a: Attempt, timeout: float) -> Outcome:
    loop = asyncio.get_running_loop()
    sock = ns.socket(a.netns, socket.SOCK_STREAM)
    try:
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (a.ip, a.port)), timeout)
        except OSError as err:
            return _failed(err)
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 512), timeout)
        except (TimeoutError, OSError):
            data = b""
        return Outcome.answered(data)
    finally:
        sock.close()


async def _udp(ns: _Namespaces, a: Attempt, timeout: float) -> Outcome:
    loop = asyncio.get_running_loop()
    sock = ns.socket(a.netns, socket.SOCK_DGRAM)
    try:
        try:
            sock.connect((a.ip, a.port))
            sock.send(probe_query())
            data = await asyncio.wait_for(loop.sock_recv(sock, 2048), timeout)
        except OSError as err:
            return _failed(err)
        return Outcome(OPEN) if data[:2] == probe_query()[:2] else Outcome.answered(data)
    finally:
        sock.close()


async def _run(attempts: list[Attempt], timeout: float, concurrency: int) -> list[Outcome]:
    ns = _Namespaces()
    gate = asyncio.Semaphore(concurrency)

    async def one(a: Attempt) -> Outcome:
        if a.protocol not in ("TCP", "UDP"):
            return Outcome(UNSUPPORTED)
        async with gate:
            return await (_tcp if a.protocol == "TCP" else _udp)(ns, a, timeout)

    try:
        return list(await asyncio.gather(*(one(a) for a in attempts)))
    finally:
        ns.close()


def run(
    attempts: Iterable[Attempt],
    timeout: float = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[Outcome]:
    """Every attempt's outcome, in order. Runs its own event loop (call it from a thread that has
    none)."""
    attempts = list(attempts)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, concurrency * 2 + 512))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    concurrency = min(concurrency, max(1, (want - 512) // 2))
    return asyncio.run(_run(attempts, timeout, concurrency))
