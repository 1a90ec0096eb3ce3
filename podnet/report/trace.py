"""The renderings of one connection followed end to end (`path.trace.Trace`): text, and JSON
with every hop and every endpoint kube-proxy may choose."""

from __future__ import annotations

import json

from podnet.path.trace import Hop, Trace


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


# The first format is the default.
RENDERERS = {
    Trace: {
        "text": lambda t: to_text(t) + "\n",
        "json": lambda t: json.dumps(to_json(t), indent=2) + "\n",
    }
}
