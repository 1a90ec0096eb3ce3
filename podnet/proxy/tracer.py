"""The walk of one packet through a node's netfilter hooks, shared by the rule-format tracers.

`trace_nftables` and `trace_iptables` each parse one rendering and run its chains; here is what
they share: the packet and the trace, the order of the hooks a packet meets (`follow`,
`replay`), the passage through a hook's base chains with every fork followed (`through`) and
the summary of every path (`result`).

Pure: a model of the rules, never the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from podnet.errors import InvalidValue, PodnetError
from podnet.ipam.addresses import HostPort
from podnet.model.objects import IPAddress
from podnet.proxy.node import is_local


class RulesetError(PodnetError, ValueError):
    """Text a tracer does not recognise: the renderer wrote a rule shape it does not know.

    Exit status 1, as for a failed verification: the rendered rules, not the input, are wrong.
    """

    exit_code = 1


@dataclass(frozen=True, slots=True)
class Packet:
    src: IPAddress
    dst: IPAddress
    port: int
    protocol: str  # tcp | udp | sctp
    mark: int = 0
    dnat: str = ""  # "IP:port" after DNAT
    masquerade: bool = False


@dataclass(frozen=True, slots=True)
class Trace:
    verdict: str  # ACCEPT | DROP | REJECT | NONE
    endpoints: tuple[str, ...]
    masquerade: bool
    rules: tuple[str, ...]  # "chain: rule", in the order they matched


Outcome = tuple[Packet, str]  # (packet, "continue" | "accept" | "drop" | "reject")


def marked(p: Packet, op: str, bit: int) -> Packet:
    """The packet after a mark rule: the bit set ("or") or flipped (xor, kube-proxy's unmark)."""
    return replace(p, mark=p.mark | bit if op == "or" else p.mark ^ bit)


def ending(kind: str, arg: str, p: Packet) -> list[Outcome] | None:
    """The actions that end a chain alike in both rule formats: a DNAT to "IP:port", masquerade
    and a verdict (`return` goes on in the calling chain). None for any other action."""
    if kind == "dnat":
        try:
            target = HostPort.parse(arg)
        except InvalidValue as err:
            raise RulesetError(f"dnat to {arg}: {err.why}") from None
        return [(replace(p, dst=target.ip, port=target.port, dnat=arg), "accept")]
    if kind == "masquerade":
        return [(replace(p, masquerade=True), "accept")]
    if kind == "verdict":
        return [(p, "continue" if arg == "return" else arg)]
    return None


def through(
    chains: list[Callable[[Packet], list[Outcome]]], packets: list[Packet]
) -> tuple[list[Packet], list[str]]:
    """Every packet through base chains in order (each fork followed): the packets that come out
    of the last one, and the final verdicts of those dropped or rejected on the way."""
    ended: list[str] = []
    for run in chains:
        survivors = []
        for p in packets:
            for q, res in run(p):
                if res in ("drop", "reject"):
                    ended.append(res)
                else:
                    survivors.append(q)
        packets = survivors
    return packets, ended


def local_to(node_ips: tuple[IPAddress, ...]) -> Callable[[IPAddress], bool]:
    """`fib ... type local` and `addrtype LOCAL` on the node: its addresses and loopback."""

    return lambda ip: is_local(ip, node_ips)


Hook = Callable[[str, list[Packet]], tuple[list[Packet], list[str]]]


def follow(
    hook: Hook, local: Callable[[IPAddress], bool], packet: Packet
) -> tuple[list[Packet], list[str]]:
    """A packet through a node's hooks in the kernel's order: locally generated, output,
    postrouting, then input when delivered to the node itself; arriving, prerouting, then input
    or forward and postrouting. The packets that come out, and the verdicts that ended others."""
    if local(packet.src):
        packets, ended = hook("output", [packet])
        packets, _ = hook("postrouting", packets)
        delivered, more = hook("input", [p for p in packets if local(p.dst)])
        return [p for p in packets if not local(p.dst)] + delivered, ended + more
    packets, ended = hook("prerouting", [packet])
    delivered, more = hook("input", [p for p in packets if local(p.dst)])
    forwarded, also = hook("forward", [p for p in packets if not local(p.dst)])
    forwarded, _ = hook("postrouting", forwarded)
    return delivered + forwarded, ended + more + also


class Walker(Protocol):
    """A rule format's tracer: runs a hook's base chains, notes the rules that matched."""

    matched: list[str]

    def hook(self, hook: str, packets: list[Packet]) -> tuple[list[Packet], list[str]]: ...


def replay(walker: Walker, local: Callable[[IPAddress], bool], packet: Packet) -> Trace:
    """The trace of `packet` through the node's hooks (`follow`) as `walker` runs them."""
    packets, ended = follow(walker.hook, local, packet)
    return result(packets, ended, walker.matched)


def result(packets: list[Packet], ended: list[str], matched: list[str]) -> Trace:
    """The trace of every path: rules hit by several paths are listed once."""
    rules = list(dict.fromkeys(matched))
    verdicts = {v.upper() for v in ended}
    if packets:
        dnat = {p.dnat for p in packets}
        verdicts.add("NONE" if dnat == {""} else "ACCEPT" if "" not in dnat else "MIXED")
    if len(verdicts) != 1:
        raise RulesetError(f"the possible paths disagree: {sorted(verdicts)}")
    (verdict,) = verdicts
    if verdict != "ACCEPT":
        return Trace(verdict, (), False, tuple(rules))
    endpoints = tuple(sorted({p.dnat for p in packets}))
    return Trace(verdict, endpoints, any(p.masquerade for p in packets), tuple(rules))
