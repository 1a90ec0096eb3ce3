"""The renderings of a name's walk through a pod's resolver (`dns.resolver.Resolution`): the
queries in order with each answer and the result, as text or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

import dns.rdatatype

from podnet.dns.resolver import Query, Resolution
from podnet.model.objects import Pod


@dataclass(frozen=True, slots=True)
class Resolved:
    """What `podnet dns` shows: the walk, and the pod it was made from (None: one absolute
    query to the cluster DNS, as dig asks)."""

    resolution: Resolution
    pod: Pod | None


def to_json(resolved: Resolved) -> dict:
    pod = resolved.pod
    return {"from": pod.key if pod else None, **resolved.resolution.to_dict()}


def to_text(resolved: Resolved) -> str:
    r, pod = resolved.resolution, resolved.pod
    lines: list[str] = []
    conf = r.conf
    if pod is not None:
        network = ", hostNetwork" if pod.host_network else ""
        lines.append(f"{pod.key} (dnsPolicy {pod.dns_policy or 'ClusterFirst'}{network}):")
        lines += ["  " + line for line in conf.text().splitlines()] or ["  (empty)"]
        lines += [f"  warning: {w}" for w in conf.warnings]
        lines.append(_walk_summary(r))
    else:
        lines.append(f"asked directly of the cluster DNS at {conf.nameservers[0]}")
    lines.append("")
    width = max((len(q.qname.to_text()) for q in r.queries), default=5)
    for i, q in enumerate(r.queries, 1):
        head = f"{i:>3}  {q.qname.to_text():<{width}}  {q.qtype.name:<5}  {q.status:<8}  "
        body = _answer_text(q)
        lines.append(head + body[0])
        lines += [" " * len(head) + more for more in body[1:]]
    lines.append("")
    lines.append("result: " + _result_text(r))
    return "\n".join(lines) + "\n"


def _walk_summary(r: Resolution) -> str:
    name, ndots = r.name, r.conf.ndots
    dots = name.count(".")
    if name.endswith("."):
        return f"{name} ends with a dot: asked as is, no search list"
    if not r.conf.searches:
        return f"{name}: no search list, asked as is"
    if dots >= ndots:
        return f"{name} has {dots} dot(s), ndots is {ndots}: as is first, then the search list"
    return f"{name} has {dots} dot(s), fewer than ndots {ndots}: the search list first, then as is"


def _answer_text(q: Query) -> list[str]:
    if q.answer is None:
        return ["(outside the cluster: for the upstream resolver)"]
    a = q.answer
    if a.answer:
        out = []
        for rrset in a.answer:
            prefix = "" if rrset.name == q.qname else f"{rrset.name} "
            out += [f"{prefix}{dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}" for rd in rrset]
        return out
    return ["-"]


def _result_text(r: Resolution) -> str:
    if r.outcome == "no nameserver":
        return "no nameserver in resolv.conf: glibc tries 127.0.0.1 in the pod, which has none"
    if r.outcome == "answer":
        final = r.queries[r.final[0]].qname.to_text()
        values = [
            f"{dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}"
            for a in r.answers
            for rrset in a.answer
            for rd in rrset
        ]
        text = f"{final} {', '.join(dict.fromkeys(values))}"
        upstream = r.upstream_name
        if upstream is not None and not r.addresses:
            text += f" (the addresses of {upstream} come from the upstream resolver)"
        return text
    if r.outcome == "upstream":
        first = next(i for i, q in enumerate(r.queries) if q.upstream)
        later = first < len(r.queries) - len(r.qtypes)
        return f"not in the cluster: the upstream resolver answers {r.upstream_name}" + (
            " (unknown to the model; if it finds nothing, the walk goes on as shown)"
            if later
            else " (unknown to the model)"
        )
    if r.outcome == "NODATA":
        return "NODATA: the name exists, with no records of the type asked"
    if r.outcome == "NXDOMAIN":
        return "NXDOMAIN: no such name"
    return r.outcome


# The first format is the default.
RENDERERS = {
    Resolved: {
        "text": to_text,
        "json": lambda r: json.dumps(to_json(r), indent=2) + "\n",
    }
}
