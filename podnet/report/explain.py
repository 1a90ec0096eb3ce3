"""The renderings of why one connection is allowed or denied (`policy.explain.Explanation`):
text, policy by policy and rule by rule, with what nearly matched when denied, and JSON (see
docs/contracts.md); and of several (`Explanations`, a name that stands for several pods): each
connection so, and a summary."""

from __future__ import annotations

import json

from podnet.policy.explain import Explanation, Explanations, NearMiss, TierDecision, Tiers
from podnet.policy.semantics import ADMIN, BASELINE, DirectionVerdict, Peer


def to_json(e: Explanation) -> dict:
    def side(ep: Peer) -> dict:
        return {
            "name": str(ep),
            "ip": str(ep.ip),
            "pod": ep.pod.key if ep.pod else None,
            "node": ep.node or None,
        }

    out = {
        "from": side(e.src),
        "to": side(e.dst),
        "port": e.port,
        "protocol": e.protocol,
        "allowed": e.allowed,
        "exempt": e.exempt or None,
    }
    for v in e.directions:
        out[v.direction.lower()] = {
            "subject": str(v.subject),
            "applies": v.applies,
            "isolated": v.isolated,
            "allowed": v.allowed,
            "policies": [p.key for p in v.selecting],
            "allowed_by": [
                {"policy": r.policy, "rule": r.rule, "peer": r.peer, "port": r.port}
                for r in e.reasons[v.direction]
            ],
            "nearly_matched": [
                {
                    "policy": m.policy,
                    "rule": m.rule,
                    "field": m.field,
                    "kind": m.kind,
                    "message": m.message,
                    "file": m.file,
                    "line": m.line,
                }
                for m in e.near_misses.get(v.direction, ())
            ],
        }
        if e.tiers:
            tiers = e.tiers.get(v.direction)
            out[v.direction.lower()]["tiers"] = None if tiers is None else _tiers_json(tiers)
    return out


def _tiers_json(t: Tiers) -> dict:
    def decision(d: TierDecision | None) -> dict | None:
        if d is None:
            return None
        return {
            "action": d.action,
            "kind": d.kind,
            "policy": d.policy,
            "priority": d.priority,
            "rule": d.rule,
            "name": d.name or None,
            "peer": d.peer,
            "port": d.port,
            "file": d.file,
            "line": d.line,
        }

    return {
        "decided_by": t.decided_by,
        "admin": decision(t.admin),
        "baseline": decision(t.baseline),
    }


def to_text(e: Explanation) -> str:
    verdict = "ALLOWED" if e.allowed else "DENIED"
    lines = [f"{_name(e.src)} -> {_name(e.dst)} {e.protocol}/{e.port}: {verdict}"]
    if e.exempt:
        lines.append(f"  {e.exempt}; policies are not consulted")
        return "\n".join(lines)
    for v in e.directions:
        where = f"{v.direction.lower()} at {v.subject}"
        if e.tiers and v.direction in e.tiers:
            lines += _tiered(e, v, e.tiers[v.direction], where)
        elif not v.applies:
            why = "host network" if v.subject.pod is not None else "not a pod"
            which = "NetworkPolicy or admin policies" if e.tiers else "NetworkPolicy"
            lines.append(f"  {where}: not subject to {which} ({why})")
        elif not v.isolated:
            lines.append(
                f"  {where}: allowed, not isolated (no policy selects it for {v.direction})"
            )
        else:
            names = ", ".join(p.key for p in v.selecting)
            lines.append(f"  {where}: isolated by {names}")
            for r in e.reasons[v.direction]:
                lines.append(f"    allowed by {r.policy} {r.rule}: {r.peer}; {r.port}")
            if not v.allowing:
                lines.append(
                    f"    denied: no {v.direction.lower()} rule of these policies allows it"
                )
                lines += [
                    f"    nearly matched: {_near(m)}" for m in e.near_misses.get(v.direction, ())
                ]
    return "\n".join(lines)


_VERBS = {"Accept": "allowed", "Deny": "denied", "Pass": "passed"}


def _decision(d: TierDecision, onward: str = "") -> str:
    """`denied by ClusterNetworkPolicy deny-db (priority 10) spec.ingress[1] "no-db": from[0]
    namespaces ...; every port`; a Pass says `onward` where it goes."""
    name = f" {json.dumps(d.name)}" if d.name else ""
    to = f" to {onward}" if d.action == "Pass" else ""
    return f"{_VERBS[d.action]} by {d.title} {d.rule}{name}{to}: {d.peer}; {d.port}"


def _tiered(e: Explanation, v: DirectionVerdict, t: Tiers, where: str) -> list[str]:
    """A direction of a cluster with admin tiers, tier by tier down to the one that decided."""
    lines = [f"  {where}: {'allowed' if v.allowed else 'denied'}"]
    if t.admin is None:
        lines.append("    no admin rule matched")
    else:
        onward = "NetworkPolicy" if v.isolated else "the baseline tier"
        lines.append(f"    admin tier: {_decision(t.admin, onward)}")
    if t.decided_by == ADMIN:
        return lines
    if v.isolated:
        names = ", ".join(p.key for p in v.selecting)
        lines.append(f"    NetworkPolicy tier: isolated by {names}; the baseline is not consulted")
        for r in e.reasons[v.direction]:
            lines.append(f"      allowed by {r.policy} {r.rule}: {r.peer}; {r.port}")
        if not v.allowing:
            lines.append(f"      denied: no {v.direction.lower()} rule of these policies allows it")
            lines += [
                f"      nearly matched: {_near(m)}" for m in e.near_misses.get(v.direction, ())
            ]
        return lines
    lines.append(f"    NetworkPolicy tier: no NetworkPolicy selects it for {v.direction}")
    if t.decided_by == BASELINE:
        assert t.baseline is not None
        lines.append(f"    baseline tier: {_decision(t.baseline)}")
    elif t.baseline is not None:
        lines.append(f"    baseline tier: {_decision(t.baseline, 'the default: allowed')}")
    else:
        lines.append("    baseline tier: no rule matched; allowed by default")
    return lines


def _near(m: NearMiss) -> str:
    where = m.file if m.line is None else f"{m.file}:{m.line}"
    return f"{m.policy} {m.field} ({where}): {m.message}"


def _name(ep: Peer) -> str:
    if ep.pod is not None:
        return f"{ep.pod.key} ({ep.ip})"
    if ep.node:
        return f"node {ep.node} ({ep.ip})"
    return str(ep.ip)


def summary(es: Explanations) -> str:
    """`3 of 4 connections from shop/deploy/frontend (2 pods) to shop/svc/cart (2 pods) are
    allowed on TCP/8080`; one side a single pod: `2 of 2 pods of shop/deploy/frontend may connect
    to ...`."""
    n = len(es.items)
    sources = {str(e.src) for e in es.items}
    targets = {str(e.dst) for e in es.items}
    ports = {f"{e.protocol}/{e.port}" for e in es.items}
    on = f" on {ports.pop()}" if len(ports) == 1 else ""
    if len(targets) == 1:
        return f"{es.allowed} of {n} pods of {es.source} may connect to {es.target}{on}"
    if len(sources) == 1:
        return f"{es.allowed} of {n} pods of {es.target} may be reached from {es.source}{on}"
    return (
        f"{es.allowed} of {n} connections from {es.source} ({len(sources)} pods) to {es.target}"
        f" ({len(targets)} pods){on} are allowed"
    )


def many_to_json(es: Explanations) -> dict:
    return {
        "from": es.source,
        "to": es.target,
        "allowed": es.allowed == len(es.items),
        "summary": {"connections": len(es.items), "allowed": es.allowed, "text": summary(es)},
        "explanations": [to_json(e) for e in es.items],
    }


def many_to_text(es: Explanations) -> str:
    return "\n\n".join([*(to_text(e) for e in es.items), summary(es)])


# The first format is the default.
RENDERERS = {
    Explanation: {
        "text": lambda e: to_text(e) + "\n",
        "json": lambda e: json.dumps(to_json(e), indent=2) + "\n",
    },
    Explanations: {
        "text": lambda es: many_to_text(es) + "\n",
        "json": lambda es: json.dumps(many_to_json(es), indent=2) + "\n",
    },
}
