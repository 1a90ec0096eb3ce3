"""The probe agent of one node: `python -m podnet.linux.agent LISTENERS.json`.

One process per node serves every declared TCP and UDP container port of the node's pods from
inside each pod's network namespace: it enters a namespace, opens that pod's sockets (a socket
stays in the namespace it was created in), comes back, and then serves them all from one event
loop. Each answers who it is, so a probe knows which endpoint it reached: a TCP connection gets
`<namespace>/<pod>\\n` and is closed; a UDP datagram gets the same text back.

It prints `ready` on stdout once every socket listens, then runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import resource
import signal
import socket
import sys
from collections import defaultdict

from podnet.kernel.netns import entered


def open_sockets(listeners: list[dict]) -> list[tuple[socket.socket, bytes]]:
    by_netns: dict[str, list[dict]] = defaultdict(list)
    for item in listeners:
        by_netns[item["netns"]].append(item)
    out = []
    for path, items in by_netns.items():
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with entered(fd):
                for item in items:
                    out.append((_listen(item["port"], item["protocol"]), item["identity"].encode()))
        finally:
            os.close(fd)
    return out


def _listen(port: int, protocol: str) -> socket.socket:
    kind = socket.SOCK_STREAM if protocol == "TCP" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    if kind == socket.SOCK_STREAM:
        sock.listen(256)
    sock.setblocking(False)
    return sock


def _on_accept(sock: socket.socket, identity: bytes) -> None:
    while True:
        try:
            conn, addr = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            if err.errno in (errno.ECONNABORTED, errno.EMFILE, errno.ENFILE):
                return
            raise
        try:
            conn.send(b"%s %s\n" % (identity, addr[0].encode()))
        except OSError:
            pass
        finally:
            conn.close()


def _on_datagram(sock: socket.socket, identity: bytes) -> None:
    while True:
        try:
            _, addr = sock.recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            continue  # an ICMP error queued on the socket
        with contextlib.suppress(OSError):
            sock.sendto(b"%s %s\n" % (identity, addr[0].encode()), addr)


async def serve(sockets: list[tuple[socket.socket, bytes]]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    for sock, identity in sockets:
        handler = _on_accept if sock.type == socket.SOCK_STREAM else _on_datagram
        loop.add_reader(sock.fileno(), handler, sock, identity)
    await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with open(args[0]) as f:
        listeners = json.load(f)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 2 * len(listeners) + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    sockets = open_sockets(listeners)
    print("ready", flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # whoever waited for "ready" may close the pipe
    asyncio.run(serve(sockets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
