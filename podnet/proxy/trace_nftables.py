"""Replays one packet over nftables text that `podnet.proxy.nftables` rendered.

In the manner of upstream's test tracer (`tracePacket` in pkg/proxy/nftables/helpers_test.go):
rules are not parsed in general; a fixed list of patterns recognises exactly the shapes the
renderer writes, and any other rule in a chain the packet reaches is an error (chains are parsed
when first reached, so that tracing a large ruleset stays quick). Unlike upstream's tracer, the
base chains run by hook and priority as the kernel runs them (`tracer.follow`). `numgen` forks
the walk: every endpoint it may choose is followed. The masquerade flag is whether the packet
reaches `masquerade` in postrouting, that is, whether some rule marked it.

Pure: a model of the rules, never the kernel.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import ip_network

from podnet.family import FAMILIES
from podnet.model.objects import IPAddress
from podnet.proxy.tracer import (
    Outcome,
    Packet,
    RulesetError,
    Trace,
    ending,
    local_to,
    marked,
    replay,
    through,
)


@dataclass
class _Rule:
    text: str
    matches: list[Callable[[Packet, _Tracer], bool]]
    action: tuple  # ("jump"|"goto", chain) | ("verdict", v) | ("vmap", map, keyfn) | ...


@dataclass
class _Table:
    family: int
    chains: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # (rule, line)
    parsed: dict[str, list[_Rule]] = field(default_factory=dict)  # chains parsed so far
    base: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # name: (type, hook, prio)
    # Elements by their text, as the renderer writes addresses (str of an ip_address).
    sets: dict[str, set[str]] = field(default_factory=dict)
    maps: dict[str, dict[str, str]] = field(default_factory=dict)


_ADD = re.compile(r"add (table|chain|set|map|rule|element) (ip6?) (\S+)(?: (\S+))?(?: (.*))?$")
_BASE = re.compile(r"\{ type (filter|nat) hook (\w+) priority (-?\d+) ; \}$")
_BRACES = re.compile(r"\{ (.+) \}$")
_ITEMS = re.compile(r', (?=(?:[^"]*"[^"]*")*[^"]*$)')  # commas outside comments
_ELEMENT = re.compile(r'^(.+?)(?: comment "[^"]*")?(?: : (.+))?$')


def parse(text: str) -> dict[int, _Table]:
    """The tables of a rendered ruleset, by IP version."""
    tables: dict[int, _Table] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _ADD.match(line)
        if m is None:
            raise RulesetError(f"line {n}: not an nft command the renderer writes: {line}")
        what, fam, _table, name, rest = m.groups()
        version = 4 if fam == "ip" else 6
        t = tables.setdefault(version, _Table(version))
        if what == "table":
            continue
        if name is None:
            raise RulesetError(f"line {n}: {what} without a name: {line}")
        if what == "chain":
            t.chains.setdefault(name, [])
            b = _BASE.match(rest or "")
            if b:
                t.base[name] = (b.group(1), b.group(2), int(b.group(3)))
        elif what == "set":
            t.sets.setdefault(name, set())
        elif what == "map":
            t.maps.setdefault(name, {})
        elif what == "rule":
            if name not in t.chains:
                raise RulesetError(f"line {n}: rule in undeclared chain {name}")
            t.chains[name].append((rest or "", n))
        else:
            body = _BRACES.match(rest or "")
            if body is None:
                raise RulesetError(f"line {n}: element not understood: {line}")
            for item in _ITEMS.split(body.group(1)):
                e = _ELEMENT.match(item)
                if e is None:
                    raise RulesetError(f"line {n}: element not understood: {item}")
                key = " ".join(e.group(1).split())
                if name in t.sets:
                    t.sets[name].add(key)
                elif name in t.maps and e.group(2):
                    t.maps[name][key] = e.group(2)
                else:
                    raise RulesetError(f"line {n}: element of an undeclared set or map: {line}")
    return tables


# Rule shapes: each pattern consumes a prefix of the rule; the last one gives the action.
_IP = r"[0-9a-fA-F.:]+(?:/\d+)?"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("ctnew", re.compile(r"ct state new\b")),
    ("vmap-addr", re.compile(r"(ip6?) daddr \. meta l4proto \. th dport vmap @(\S+)")),
    ("vmap-port", re.compile(r"meta l4proto \. th dport vmap @(\S+)")),
    ("addr-set", re.compile(r"(ip6?) (saddr|daddr) (!= )?@(\S+)")),
    ("addr-anon", re.compile(r"(ip6?) (saddr|daddr) (!= )?\{ ([^}]*) \}")),
    ("addr", re.compile(rf"(ip6?) (saddr|daddr) (!= )?({_IP})(?=\s|$)")),
    ("dport", re.compile(r"(tcp|udp|sctp) dport (\d+)")),
    ("l4proto", re.compile(r"meta l4proto (tcp|udp|sctp)")),
    ("fib", re.compile(r"fib (saddr|daddr) type local")),
    ("mark-clear", re.compile(r"mark and (0x[0-9a-f]+) == 0")),
    ("numgen", re.compile(r"numgen random mod (\d+) vmap \{ (.*?) \}")),
    ("mark-set", re.compile(r"mark set mark (or|xor) (0x[0-9a-f]+)")),
    ("update", re.compile(r"update @(\S+) \{ ip6? saddr \}")),
    ("dnat", re.compile(r"dnat to (\S+)")),
    ("masquerade", re.compile(r"masquerade fully-random")),
    ("jump", re.compile(r"(jump|goto) (\S+)")),
    ("verdict", re.compile(r"(return|drop|reject|accept)\b")),
    ("comment", re.compile(r'comment "[^"]*"')),
]


def _parse_rule(text: str, fam: str, n: int) -> _Rule:
    rule = _Rule(text, [], ())
    rest = text.strip()
    while rest:
        kind, m = _token(rest)
        if m is None:
            raise RulesetError(f"line {n}: unmatched rule: {text!r} at {rest!r}")
        if kind not in ("comment", "ctnew") and rule.action:
            raise RulesetError(f"line {n}: nothing may follow the action: {text!r}")
        g = m.groups()
        if kind in ("vmap-addr", "addr-set", "addr-anon", "addr") and g[0] != fam:
            raise RulesetError(f"line {n}: {g[0]} match in an {fam} table: {text!r}")
        if kind == "vmap-addr":
            rule.action = ("vmap", g[1], lambda p: f"{p.dst} . {p.protocol} . {p.port}")
        elif kind == "vmap-port":
            rule.action = ("vmap", g[0], lambda p: f"{p.protocol} . {p.port}")
        elif kind == "addr-set":
            rule.matches.append(_set_match(g[1], bool(g[2]), g[3]))
        elif kind == "addr-anon":
            nets = [ip_network(x.strip(), strict=False) for x in g[3].split(",")]
            rule.matches.append(_net_match(g[1], bool(g[2]), nets))
        elif kind == "addr":
            rule.matches.append(_net_match(g[1], bool(g[2]), [ip_network(g[3], strict=False)]))
        elif kind == "dport":
            proto, number = g[0], int(g[1])
            rule.matches.append(lambda p, _t, a=proto, b=number: p.protocol == a and p.port == b)
        elif kind == "l4proto":
            rule.matches.append(lambda p, _t, a=g[0]: p.protocol == a)
        elif kind == "fib":
            rule.matches.append(lambda p, t, f=g[0]: t.is_local(p.src if f == "saddr" else p.dst))
        elif kind == "mark-clear":
            rule.matches.append(lambda p, _t, b=int(g[0], 16): not p.mark & b)
        elif kind == "numgen":
            targets = [x.strip().split(" : ") for x in g[1].split(",")]
            if len(targets) != int(g[0]) or any(
                i != str(k) or not v.startswith("goto ") for k, (i, v) in enumerate(targets)
            ):
                raise RulesetError(
                    f"line {n}: numgen map does not cover 0..{int(g[0]) - 1}: {text!r}"
                )
            rule.action = ("numgen", [v.split(" ", 1)[1] for _, v in targets])
        elif kind == "mark-set":
            rule.action = ("mark", g[0], int(g[1], 16))
        elif kind == "update":
            rule.action = ("update", g[0])
        elif kind == "dnat":
            rule.action = ("dnat", g[0])
        elif kind == "masquerade":
            rule.action = ("masquerade", "")
        elif kind == "jump":
            rule.action = (g[0], g[1])
        elif kind == "verdict":
            rule.action = ("verdict", g[0])
        rest = rest[m.end() :].strip()
    if not rule.action:
        raise RulesetError(f"line {n}: rule without an action: {text!r}")
    return rule


def _token(rest: str) -> tuple[str, re.Match[str] | None]:
    for kind, pat in _PATTERNS:
        m = pat.match(rest)
        if m:
            return kind, m
    return "", None


def _field(p: Packet, name: str) -> IPAddress:
    return p.src if name == "saddr" else p.dst


def _net_match(name: str, negate: bool, nets: list) -> Callable[[Packet, _Tracer], bool]:
    def match(p: Packet, _t: _Tracer) -> bool:
        a = _field(p, name)
        return any(a.version == net.version and a in net for net in nets) != negate

    return match


def _set_match(name: str, negate: bool, set_name: str) -> Callable[[Packet, _Tracer], bool]:
    def match(p: Packet, t: _Tracer) -> bool:
        if set_name not in t.table.sets:
            raise RulesetError(f"lookup in undeclared set @{set_name}")
        # Dynamic sets (affinity) start empty: no client has been seen yet.
        return (str(_field(p, name)) in t.table.sets[set_name]) != negate

    return match


class _Tracer:
    def __init__(self, table: _Table, local: Callable[[IPAddress], bool]):
        self.table = table
        self.is_local = local
        self.matched: list[str] = []

    def run(self, chain: str, p: Packet, depth: int = 0) -> list[Outcome]:
        if chain not in self.table.chains:
            raise RulesetError(f"jump to undeclared chain {chain}")
        if depth > 32:
            raise RulesetError(f"chain loop through {chain}")
        return self._rules(chain, 0, p, depth)

    def _rules(self, chain: str, start: int, p: Packet, depth: int) -> list[Outcome]:
        rules = self.table.parsed.get(chain)
        if rules is None:
            fam = FAMILIES[self.table.family].nft
            rules = [_parse_rule(text, fam, n) for text, n in self.table.chains[chain]]
            self.table.parsed[chain] = rules
        for i in range(start, len(rules)):
            r = rules[i]
            if not all(m(p, self) for m in r.matches):
                continue
            kind = r.action[0]
            if kind == "vmap":
                target = self.table.maps.get(r.action[1])
                if target is None:
                    raise RulesetError(f"lookup in undeclared map @{r.action[1]}")
                verdict = target.get(r.action[2](p))
                if verdict is None:
                    continue
                self._note(chain, r)
                return self._verdict(chain, i, verdict, p, depth)
            self._note(chain, r)
            if kind == "numgen":
                out: list[Outcome] = []
                for target in r.action[1]:
                    out += self._verdict(chain, i, f"goto {target}", p, depth)
                return out
            if kind == "mark":
                p = marked(p, r.action[1], r.action[2])
                continue
            if kind == "update":
                # Affinity: remembers the client for later packets; this one goes on.
                if r.action[1] not in self.table.sets:
                    raise RulesetError(f"update of undeclared set @{r.action[1]}")
                continue
            end = ending(kind, r.action[1], p)
            if end is not None:
                return end
            return self._verdict(chain, i, f"{kind} {r.action[1]}", p, depth)
        return [(p, "continue")]

    def _verdict(self, chain: str, i: int, verdict: str, p: Packet, depth: int) -> list[Outcome]:
        word, _, target = verdict.partition(" ")
        if word in ("drop", "reject", "accept"):
            return [(p, word)]
        if word == "goto":
            return self.run(target, p, depth + 1)
        if word != "jump":
            raise RulesetError(f"verdict not understood: {verdict}")
        out: list[Outcome] = []
        for q, res in self.run(target, p, depth + 1):
            out += self._rules(chain, i + 1, q, depth) if res == "continue" else [(q, res)]
        return out

    def _note(self, chain: str, r: _Rule) -> None:
        self.matched.append(f"{chain}: {r.text}")

    def hook(self, hook: str, packets: list[Packet]) -> tuple[list[Packet], list[str]]:
        """Every base chain of `hook` in priority order; (packets accepted, final verdicts)."""
        chains = sorted((prio, name) for name, (_, h, prio) in self.table.base.items() if h == hook)
        return through([lambda p, name=name: self.run(name, p) for _, name in chains], packets)


def trace_nftables(
    text: str,
    node_ips: tuple[IPAddress, ...],
    src: IPAddress,
    dst: IPAddress,
    port: int,
    protocol: str = "TCP",
) -> Trace:
    """Where the packet goes through the ruleset on the node whose addresses are `node_ips`."""
    tables = parse(text)
    table = tables.get(dst.version)
    if table is None:
        return Trace("NONE", (), False, ())

    local = local_to(node_ips)
    return replay(_Tracer(table, local), local, Packet(src, dst, port, protocol.lower()))
