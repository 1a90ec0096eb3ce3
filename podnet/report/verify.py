"""The renderings of the kernel's reachability matrix (`linux.verify.Measured`): the reach table
with a note per SCTP port, or the `podnet reach -o json` shape with null SCTP cells."""

from __future__ import annotations

import json

from podnet.linux.verify import SCTP_NOTE, Measured
from podnet.report import reach


def to_json(measured: Measured) -> dict:
    """The `podnet reach -o json` shape; SCTP entries carry null cells and a note."""
    out = reach.to_json(measured.reach)
    pods = measured.reach.pods
    for port, protocol in measured.unsupported:
        out["probes"].append(
            {
                "port": port,
                "protocol": protocol,
                "note": SCTP_NOTE,
                "allowed": {s: dict.fromkeys(pods) for s in pods},
            }
        )
    out["probes"].sort(key=lambda p: (p["protocol"], p["port"]))
    return out


def render_table(measured: Measured) -> str:
    notes = "".join(f"{proto}/{port}: {SCTP_NOTE}\n" for port, proto in measured.unsupported)
    return reach.render_table(measured.reach) + notes


# The first format is the default.
RENDERERS = {
    Measured: {
        "table": render_table,
        "json": lambda m: json.dumps(to_json(m), indent=2) + "\n",
    }
}
