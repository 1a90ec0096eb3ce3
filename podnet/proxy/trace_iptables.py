"""Replays one packet over `iptables-restore` text that `podnet.proxy.iptables` rendered.

The iptables counterpart of `trace_nftables`: the same walk through the hooks (`tracer.follow`;
built-in chains by hook, nat before filter where both hook in), a fixed set of the match and target shapes the renderer writes (any
other is an error), `statistic` forked into "matched" and "not matched" so that every endpoint is
followed, `recent --rcheck` never matching (no client seen yet). It keeps the iptables rendering
honest the way `trace_nftables` keeps the nftables one.

Pure: a model of the rules, never the kernel.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Protocol

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

# Built-in chains of each hook, in the order the kernel runs them (nat -100 before filter 0).
HOOKS = {
    "prerouting": [("nat", "PREROUTING")],
    "input": [("filter", "INPUT")],
    "forward": [("filter", "FORWARD")],
    "output": [("nat", "OUTPUT"), ("filter", "OUTPUT")],
    "postrouting": [("nat", "POSTROUTING")],
}

Match = Callable[[Packet, "_Tracer"], set[bool]]


class Extra(Protocol):
    """Match modules a tracer of another mode adds to the parser."""

    modules: frozenset[str]

    def parse(self, module: str, words: list[str], text: str, n: int) -> tuple[Match, int]:
        """The match for `-m module` followed by `words`, and how many words it took."""
        ...


@dataclass
class _Rule:
    text: str
    matches: list[Match] = field(default_factory=list)
    target: tuple = ()  # () for a rule without -j
    line: int = 0
    parsed: bool = False


def parse(text: str, family: int) -> dict[tuple[str, str], list[_Rule]]:
    """The chains of the `iptables-restore` part for `family`, by (table, chain)."""
    tool = f"# {FAMILIES[family].iptables}-restore"
    lines = text.splitlines()
    if any(line.startswith("# ip") for line in lines):
        start = next((i for i, line in enumerate(lines) if line.strip() == tool), None)
        if start is None:
            return {}
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("# ip")), len(lines)
        )
        lines = lines[start:end]
    chains: dict[tuple[str, str], list[_Rule]] = {}
    table = ""
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = line[1:]
            for builtin in ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"):
                chains.setdefault((table, builtin), [])
            continue
        if line.startswith(":"):
            chains.setdefault((table, line[1:].split()[0]), [])
            continue
        words = line.split(None, 2)
        if len(words) < 2 or words[0] not in ("-A", "-I"):
            raise RulesetError(f"line {n}: not a rule the renderer writes: {line}")
        key = (table, words[1])
        if key not in chains:
            raise RulesetError(f"line {n}: rule in undeclared chain {words[1]}")
        # Parsed when a packet first reaches the chain (see _Tracer.rules).
        rule = _Rule(line, line=n)
        if words[0] == "-I":
            chains[key].insert(0, rule)
        else:
            chains[key].append(rule)
    return chains


_ADDR = re.compile(r"[0-9a-fA-F.:]+(/\d+)?$")


def _parse_rule(rule: _Rule, family: int, extra: Extra | None = None) -> _Rule:
    """The rule's matches and target; `extra` parses the match modules only another mode's
    rules use (`trace_ipvs`: set, physdev, ipvs), which are unknown here otherwise."""
    text, n = rule.text, rule.line
    words = shlex.split(text)[2:]
    rule.parsed = True
    i = 0

    def take(count: int) -> list[str]:
        nonlocal i
        got = words[i : i + count]
        if len(got) != count:
            raise RulesetError(f"line {n}: unmatched rule: {text}")
        i += count
        return got

    while i < len(words):
        negate = words[i] == "!"
        if negate:
            i += 1
        w = take(1)[0]
        if w == "-m":
            module = take(1)[0]
            if module == "comment":
                take(2)
            elif module in ("tcp", "udp", "sctp"):
                pass  # the protocol comes with -p
            elif module == "addrtype":
                neg = words[i] == "!"
                i += neg
                kind, value = take(2)
                if kind not in ("--src-type", "--dst-type") or value != "LOCAL":
                    raise RulesetError(f"line {n}: unmatched rule: {text}")
                rule.matches.append(_local(kind == "--src-type", neg))
            elif module == "conntrack":
                neg = words[i] == "!"
                i += neg
                flag, states = take(2)
                if flag != "--ctstate":
                    raise RulesetError(f"line {n}: unmatched rule: {text}")
                rule.matches.append(_ctstate(set(states.split(",")), neg))
            elif module == "mark":
                neg = words[i] == "!"
                i += neg
                flag, value = take(2)
                bits, _, mask = value.partition("/")
                if flag != "--mark":
                    raise RulesetError(f"line {n}: unmatched rule: {text}")
                rule.matches.append(_mark(int(bits, 16), int(mask or bits, 16), neg))
            elif module == "statistic":
                mode, random, prob, p = take(4)
                if (mode, random, prob) != ("--mode", "random", "--probability"):
                    raise RulesetError(f"line {n}: unmatched rule: {text}")
                if not 0 < float(p) < 1:
                    raise RulesetError(f"line {n}: probability {p} out of (0, 1)")
                rule.matches.append(lambda _p, _t: {True, False})
            elif module == "recent":
                rest = words[i:]
                if rest[:1] != ["--name"]:
                    raise RulesetError(f"line {n}: unmatched rule: {text}")
                if rest[2:3] == ["--set"]:
                    take(3)
                elif (
                    rest[2:6] == ["--rcheck", "--seconds", rest[4], "--reap"] and rest[4].isdigit()
                ):
                    take(6)
                    rule.matches.append(lambda _p, _t: {False})  # no client seen yet
                else:
                    raise RulesetError(f"line {n}: unmatched rule: {text}")
            elif extra is not None and module in extra.modules:
                match, used = extra.parse(module, words[i:], text, n)
                i += used
                rule.matches.append(match)
            else:
                raise RulesetError(f"line {n}: unknown match module {module}: {text}")
        elif w == "-p":
            proto = take(1)[0]
            rule.matches.append(lambda p, _t, a=proto, neg=negate: {(p.protocol == a) != neg})
        elif w in ("-s", "-d"):
            value = take(1)[0]
            if not _ADDR.match(value):
                raise RulesetError(f"line {n}: not an address: {value}")
            net = ip_network(value, strict=False)
            if net.version != family:
                raise RulesetError(f"line {n}: IPv{net.version} address in IPv{family} rules")
            rule.matches.append(_addr(w == "-s", net, negate))
        elif w == "--dport":
            number = int(take(1)[0])
            rule.matches.append(lambda p, _t, b=number: {p.port == b})
        elif w == "-j":
            rule.target = _target(take(1)[0], words, i, text, n)
            break
        else:
            raise RulesetError(f"line {n}: unmatched rule: {text}")
    return rule


def _target(name: str, words: list[str], i: int, text: str, n: int) -> tuple:
    rest = words[i:]
    if name == "MARK" and len(rest) == 2 and rest[0] in ("--or-mark", "--xor-mark"):
        return ("mark", rest[0][2:-5], int(rest[1], 16))
    if name == "DNAT" and len(rest) == 2 and rest[0] == "--to-destination":
        return ("dnat", rest[1])
    if name == "MASQUERADE" and rest in ([], ["--random-fully"]):
        return ("masquerade", "")
    if rest:
        raise RulesetError(f"line {n}: unmatched target: {text}")
    if name in ("ACCEPT", "DROP", "REJECT", "RETURN"):
        return ("verdict", name.lower())
    return ("jump", name)


def _local(source: bool, negate: bool = False) -> Match:
    return lambda p, t: {t.is_local(p.src if source else p.dst) != negate}


def _addr(source: bool, net: object, negate: bool) -> Match:
    def match(p: Packet, _t: _Tracer) -> set[bool]:
        a = p.src if source else p.dst
        return {(a in net) != negate}  # type: ignore[operator]

    return match


def _ctstate(states: set[str], negate: bool) -> Match:
    # The first packet of a connection: NEW, and DNAT once a nat rule has translated it.
    def match(p: Packet, _t: _Tracer) -> set[bool]:
        current = {"NEW"} | ({"DNAT"} if p.dnat else set())
        return {bool(current & states) != negate}

    return match


def _mark(bits: int, mask: int, negate: bool) -> Match:
    return lambda p, _t: {((p.mark & mask) == bits) != negate}


class _Tracer:
    def __init__(
        self,
        chains: dict[tuple[str, str], list[_Rule]],
        local: Callable[[IPAddress], bool],
        family: int,
    ):
        self.chains = chains
        self.family = family
        self.extra: Extra | None = None
        self.is_local = local
        self.matched: list[str] = []

    def run(
        self, table: str, chain: str, p: Packet, start: int = 0, depth: int = 0
    ) -> list[Outcome]:
        if (table, chain) not in self.chains:
            raise RulesetError(f"jump to undeclared chain {chain} in {table}")
        if depth > 32:
            raise RulesetError(f"chain loop through {chain}")
        rules = self.chains[(table, chain)]
        if rules and not rules[0].parsed:
            for r in rules:
                _parse_rule(r, self.family, self.extra)
        for i in range(start, len(rules)):
            r = rules[i]
            outcomes = {True}
            for m in r.matches:
                outcomes = {a and b for a in outcomes for b in m(p, self)}
            if True not in outcomes or not r.target:  # no match, or a comment-only rule
                continue
            self.matched.append(f"{table} {chain}: {r.text.split(None, 2)[2]}")
            taken = self._target(table, chain, i, r, p, depth)
            if False in outcomes:  # statistic: the packets this rule did not pick go on
                taken += self.run(table, chain, p, i + 1, depth)
            return taken
        return [(p, "continue")]

    def _target(
        self, table: str, chain: str, i: int, r: _Rule, p: Packet, depth: int
    ) -> list[Outcome]:
        kind = r.target[0]
        if kind == "mark":
            return self.run(table, chain, marked(p, r.target[1], r.target[2]), i + 1, depth)
        end = ending(kind, r.target[1], p)
        if end is not None:
            return end
        out: list[Outcome] = []
        for q, res in self.run(table, r.target[1], p, 0, depth + 1):
            out += self.run(table, chain, q, i + 1, depth) if res == "continue" else [(q, res)]
        return out

    def hook(self, hook: str, packets: list[Packet]) -> tuple[list[Packet], list[str]]:
        runs = [lambda p, t=table, c=chain: self.run(t, c, p) for table, chain in HOOKS[hook]]
        return through(runs, packets)


def trace_iptables(
    text: str,
    node_ips: tuple[IPAddress, ...],
    src: IPAddress,
    dst: IPAddress,
    port: int,
    protocol: str = "TCP",
) -> Trace:
    chains = parse(text, dst.version)
    if not chains:
        return Trace("NONE", (), False, ())

    local = local_to(node_ips)
    return replay(
        _Tracer(chains, local, dst.version), local, Packet(src, dst, port, protocol.lower())
    )
