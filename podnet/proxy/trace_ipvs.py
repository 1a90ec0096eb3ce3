"""Replays one packet over the text `podnet.proxy.ipvs` rendered: the iptables rules with their
ipset matches, and IPVS itself.

Each section is parsed back: `# ipvsadm` into virtual servers and their real servers, `# ipset`
into the sets (`KUBE-IPVS-IPS` says which addresses are on `kube-ipvs0`, so local to the node),
`# iptables` into chains (the iptables tracer's parser, with the `set`, `physdev` and `ipvs`
match modules added here). The walk follows the kernel: IPVS takes a packet in LOCAL_IN after
the filter table's INPUT (traffic arriving for a local address, which every VIP on kube-ipvs0
is), or in LOCAL_OUT between nat and filter OUTPUT (the node's own traffic); it sends the packet
to a real server of weight above 0 through filter OUTPUT and nat POSTROUTING, or, without one,
answers ICMP port unreachable (REJECT). A packet to a kube-ipvs0 address on a port no virtual
server has meets KUBE-IPVS-FILTER's REJECT in INPUT.

Pure: a model of the rules, never the kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import ip_address, ip_network

from podnet.ipam.addresses import HostPort
from podnet.model.objects import IPAddress, IPNetwork
from podnet.proxy import trace_iptables
from podnet.proxy.trace_iptables import Match
from podnet.proxy.tracer import Packet, RulesetError, Trace, result

PROTOCOLS = {"-t": "tcp", "-u": "udp", "--sctp-service": "sctp"}


@dataclass(frozen=True, slots=True)
class IPVSPacket(Packet):
    vaddr: str = ""  # "protocol VIP:port" of the virtual server that scheduled the packet


@dataclass
class Parsed:
    """The three sections of one IP family."""

    services: dict[tuple[IPAddress, str, int], tuple[str, list[tuple[str, int]]]]
    sets: dict[str, tuple[str, set[str]]]  # name -> (type, entries)
    chains: dict


def parse(text: str, family: int) -> Parsed:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("# "):
            current = line[2:].strip()
            sections.setdefault(current, [])
        elif line.strip():
            sections.setdefault(current, []).append(line.strip())
    for needed in ("ipvsadm", "ipset", "iptables"):
        if needed not in sections:
            raise RulesetError(f"no '# {needed}' section")
    iptables = "ip6tables" if family == 6 else "iptables"
    rules = "\n".join(sections.get(iptables, []))
    return Parsed(
        _services(sections["ipvsadm"], family),
        _sets(sections["ipset"]),
        trace_iptables.parse(rules, family) if rules else {},
    )


def _services(
    lines: list[str], family: int
) -> dict[tuple[IPAddress, str, int], tuple[str, list[tuple[str, int]]]]:
    out: dict[tuple[IPAddress, str, int], tuple[str, list[tuple[str, int]]]] = {}
    for n, line in enumerate(lines, 1):
        words = line.split()
        if words[0] == "--set":
            continue
        if words[0] not in ("-A", "-a") or len(words) < 3 or words[1] not in PROTOCOLS:
            raise RulesetError(f"ipvsadm line {n}: not a line the renderer writes: {line}")
        try:
            vip = HostPort.parse(words[2])
        except ValueError:
            raise RulesetError(f"ipvsadm line {n}: not an address:port: {words[2]}") from None
        if vip.ip.version != family:
            continue
        key = (vip.ip, PROTOCOLS[words[1]], vip.port)
        if words[0] == "-A":
            out[key] = (line, [])
            continue
        rest = words[3:]
        if key not in out or len(rest) != 5 or rest[0] != "-r" or rest[2:4] != ["-m", "-w"]:
            raise RulesetError(f"ipvsadm line {n}: not a real server of a service: {line}")
        out[key][1].append((rest[1], int(rest[4])))
    return out


def _sets(lines: list[str]) -> dict[str, tuple[str, set[str]]]:
    out: dict[str, tuple[str, set[str]]] = {}
    for n, line in enumerate(lines, 1):
        words = line.split()
        if words[0] == "create" and len(words) >= 3:
            out[words[1]] = (words[2], set())
        elif words[0] == "add" and len(words) == 3 and words[1] in out:
            out[words[1]][1].add(words[2])
        else:
            raise RulesetError(f"ipset line {n}: not a line the renderer writes: {line}")
    return out


class _Modules:
    """The match modules of the IPVS mode's rules: set, physdev, ipvs."""

    modules = frozenset({"set", "physdev", "ipvs"})

    def parse(self, module: str, words: list[str], text: str, n: int) -> tuple[Match, int]:
        if module == "set" and words[:1] == ["--match-set"] and len(words) >= 3:
            return _set_match(words[1], words[2].split(",")), 3
        if module == "physdev" and words[:2] == ["!", "--physdev-is-in"]:
            return (lambda p, t: {not t.bridged(p.src)}), 2
        if (
            module == "ipvs"
            and len(words) >= 6
            and words[0::2][:3]
            == [
                "--vaddr",
                "--vproto",
                "--vport",
            ]
        ):
            want = f"{words[3]} {HostPort(ip_address(words[1]), int(words[5]))}"
            return (lambda p, _t: {getattr(p, "vaddr", "") == want}), 6
        raise RulesetError(f"line {n}: unmatched rule: {text}")


def _set_match(name: str, dirs: list[str]) -> Match:
    def match(p: Packet, t: _Tracer) -> set[bool]:
        if name not in t.sets:
            raise RulesetError(f"match on undefined ipset {name}")
        kind, entries = t.sets[name]
        ends = [p.src if d == "src" else p.dst for d in dirs]
        if kind == "bitmap:port":
            return {str(p.port) in entries}
        if kind == "hash:ip":
            return {str(ends[0]) in entries}
        head = f"{ends[0]},{p.protocol}:{p.port}"
        if kind == "hash:ip,port":
            return {head in entries}
        if kind == "hash:ip,port,ip":
            return {f"{head},{ends[2]}" in entries}
        if kind == "hash:ip,port,net":
            return {
                any(
                    ends[2] in _net(e.rsplit(",", 1)[1])
                    for e in entries
                    if e.startswith(head + ",")
                )
            }
        raise RulesetError(f"ipset {name}: unknown type {kind}")

    return match


def _net(text: str) -> IPNetwork:
    return ip_network(text, strict=False)


class _Tracer(trace_iptables._Tracer):
    def __init__(
        self,
        parsed: Parsed,
        local: Callable[[IPAddress], bool],
        family: int,
        bridged: Callable[[IPAddress], bool],
    ):
        super().__init__(parsed.chains, local, family)
        self.extra = _Modules()
        self.sets = parsed.sets
        self.bridged = bridged
        self.services = parsed.services

    def chain(
        self, table: str, builtin: str, packets: list[Packet]
    ) -> tuple[list[Packet], list[str]]:
        """Packets through a built-in chain: those that go on, and the verdicts of the others."""
        if (table, builtin) not in self.chains:
            return packets, []
        survivors: list[Packet] = []
        ended: list[str] = []
        for p in packets:
            for q, res in self.run(table, builtin, p):
                if res in ("drop", "reject"):
                    ended.append(res)
                else:
                    survivors.append(q)
        return survivors, ended

    def ipvs(self, packets: list[Packet]) -> tuple[list[Packet], list[Packet], list[str]]:
        """IPVS: (packets it scheduled to a real server, packets it let by, verdicts)."""
        scheduled: list[Packet] = []
        passed: list[Packet] = []
        ended: list[str] = []
        for p in packets:
            hit = None if p.dnat else self.services.get((p.dst, p.protocol, p.port))
            if hit is None:
                passed.append(p)
                continue
            line, reals = hit
            self.matched.append(f"ipvs: {line}")
            active = [r for r, weight in reals if weight > 0]
            if not active:
                self.matched.append("ipvs: no real server: ICMP port unreachable")
                ended.append("reject")
                continue
            vaddr = f"{p.protocol} {HostPort(p.dst, p.port)}"
            for r in active:
                target = HostPort.parse(r)
                scheduled.append(
                    IPVSPacket(
                        p.src, target.ip, target.port, p.protocol, p.mark, r, p.masquerade, vaddr
                    )
                )
        return scheduled, passed, ended


def trace_ipvs(
    text: str,
    node_ips: tuple[IPAddress, ...],
    src: IPAddress,
    dst: IPAddress,
    port: int,
    protocol: str = "TCP",
    bridged: Callable[[IPAddress], bool] | None = None,
) -> Trace:
    """The trace of a packet over `render_ipvs` text. `bridged`: whether a source arrives
    through a bridge port (`physdev --physdev-is-in`); by default none does."""
    parsed = parse(text, dst.version)
    ipvs_ips = {ip_address(e) for e in _bound(parsed)}
    node = set(node_ips)

    def local(ip: IPAddress) -> bool:
        return ip in node or ip in ipvs_ips or ip.is_loopback

    t = _Tracer(parsed, local, dst.version, bridged or (lambda _ip: False))
    packet = Packet(src, dst, port, protocol.lower())
    ended: list[str] = []
    if local(src):
        packets, e = t.chain("nat", "OUTPUT", [packet])
        ended += e
        scheduled, passed, e = t.ipvs(packets)
        ended += e
        out, e = t.chain("filter", "OUTPUT", scheduled + passed)
        ended += e
        out, _ = t.chain("nat", "POSTROUTING", out)
        delivered = [p for p in out if not p.dnat and local(p.dst)]
        kept, e = t.chain("filter", "INPUT", delivered)
        ended += e
        return result([p for p in out if p not in delivered] + kept, ended, t.matched)
    packets, e = t.chain("nat", "PREROUTING", [packet])
    ended += e
    inbound = [p for p in packets if local(p.dst)]
    forwarded = [p for p in packets if not local(p.dst)]
    inbound, e = t.chain("filter", "INPUT", inbound)
    ended += e
    scheduled, passed, e = t.ipvs(inbound)
    ended += e
    scheduled, e = t.chain("filter", "OUTPUT", scheduled)
    ended += e
    scheduled, _ = t.chain("nat", "POSTROUTING", scheduled)
    forwarded, e = t.chain("filter", "FORWARD", forwarded)
    ended += e
    forwarded, _ = t.chain("nat", "POSTROUTING", forwarded)
    return result(scheduled + passed + forwarded, ended, t.matched)


def _bound(parsed: Parsed) -> Iterator[str]:
    for name in ("KUBE-IPVS-IPS", "KUBE-6-IPVS-IPS"):
        if name in parsed.sets:
            yield from parsed.sets[name][1]
