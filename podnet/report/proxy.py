"""The renderings of one packet traced through the rules kube-proxy writes on a node: the text of
`podnet proxy trace`, and the JSON shape docs/contracts.md promises (`node`, `verdict`, `endpoints`,
`masquerade`, `rules`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from podnet.ipam.addresses import HostPort
from podnet.model.objects import IPAddress
from podnet.proxy.tracer import Trace
from podnet.proxy.verdict import ProxyVerdict, Verdict


@dataclass(frozen=True, slots=True)
class ProxyTrace:
    """What `podnet proxy trace` shows: the packet asked about, what the node's rules did to it,
    and the kube-proxy model's reason for it."""

    node: str
    mode: str  # nftables | iptables
    source: IPAddress
    target: IPAddress
    port: int
    protocol: str
    trace: Trace  # from the rendered rules
    verdict: Verdict  # from the model: why


def to_json(p: ProxyTrace) -> dict:
    t = p.trace
    return {
        "node": p.node,
        "verdict": t.verdict,
        "endpoints": list(t.endpoints),
        "masquerade": t.masquerade,
        "rules": list(t.rules),
    }


def _summary(t: Trace) -> str:
    if t.verdict == ProxyVerdict.ACCEPT:
        masq = "masqueraded" if t.masquerade else "not masqueraded"
        return f"verdict: ACCEPT, DNAT to one of {', '.join(t.endpoints)}; {masq}"
    if t.verdict == ProxyVerdict.NONE:
        return "verdict: NONE (no kube-proxy rule applies)"
    return f"verdict: {t.verdict}"


def to_text(p: ProxyTrace) -> str:
    lines = [f"{p.node} ({p.mode}): {p.source} -> {HostPort(p.target, p.port)} {p.protocol}"]
    lines += [f"  {r}" for r in p.trace.rules]
    lines.append(_summary(p.trace))
    v = p.verdict
    if v.service or v.reason:
        lines.append(f"why: {v.service + ': ' if v.service else ''}{v.reason}")
    return "\n".join(lines) + "\n"


# The first format is the default.
RENDERERS = {
    ProxyTrace: {
        "text": to_text,
        "json": lambda p: json.dumps(to_json(p)) + "\n",
    }
}
