"""The renderings of one connection followed end to end (`path.trace.Trace`): text, and JSON
with every hop and every endpoint kube-proxy may choose; and of several (`Traces`, a name that
stands for several pods): each trace so, and a summary."""

from __future__ import annotations

import json

from podnet.path.trace import Hop, Trace, Traces


def _hop(h: Hop) -> dict:
    return {
        "step": h.step,
        "summary": h.summary,
        **({"detail": h.detail} if h.detail else {}),
    }


def to_json(t: Trace) -> dict:
    return {
        "from": t.source,
        "to": t.target,
        "port": t.port,
        "protocol": t.protocol,
        "verdict": t.verdict,
        "reason": t.reason,
        "hops": [_hop(h) for h in t.hops],
        "endpoints": [
            {
                "endpoint": str(d.endpoint),
                "target": d.target,
                "allowed": d.allowed,
                "reason": d.reason,
                "hops": [_hop(h) for h in d.hops],
            }
            for d in t.deliveries
        ],
    }


def to_text(t: Trace) -> str:
    port = f"/{t.port}" if t.port else ""
    lines = [f"{t.source} -> {t.target} {t.protocol}{port}"]
    lines += [f"  {h.step:<10} {h.summary}" for h in t.hops]
    for d in t.deliveries:
        mark = "delivered" if d.allowed else "dropped"
        lines.append(f"  endpoint {d.endpoint} ({d.target}): {mark}")
        lines += [f"    {h.step:<10} {h.summary}" for h in d.hops]
    lines.append(f"  verdict    {t.verdict.upper()}: {t.reason}")
    return "\n".join(lines)


def summary(ts: Traces) -> str:
    """`2 of 3 connections from shop/deploy/frontend to catalog are delivered (dropped: 1)`."""
    n = len(ts.traces)
    others: dict[str, int] = {}
    for t in ts.traces:
        if t.verdict != "delivered":
            others[t.verdict] = others.get(t.verdict, 0) + 1
    rest = "; ".join(f"{verdict}: {count}" for verdict, count in others.items())
    text = f"{ts.delivered} of {n} connections from {ts.source} to {ts.target} are delivered"
    return text + (f" ({rest})" if rest else "")


def many_to_json(ts: Traces) -> dict:
    return {
        "from": ts.source,
        "to": ts.target,
        "delivered": ts.delivered == len(ts.traces),
        "summary": {"traces": len(ts.traces), "delivered": ts.delivered, "text": summary(ts)},
        "traces": [to_json(t) for t in ts.traces],
    }


def many_to_text(ts: Traces) -> str:
    return "\n\n".join([*(to_text(t) for t in ts.traces), summary(ts)])


# The first format is the default.
RENDERERS = {
    Trace: {
        "text": lambda t: to_text(t) + "\n",
        "json": lambda t: json.dumps(to_json(t), indent=2) + "\n",
    },
    Traces: {
        "text": lambda ts: many_to_text(ts) + "\n",
        "json": lambda ts: json.dumps(many_to_json(ts), indent=2) + "\n",
    },
}
