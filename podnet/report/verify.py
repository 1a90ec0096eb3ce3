"""The renderings of the kernel's reachability matrix (`linux.verify.Measured`): the reach table
with a note per SCTP port, or the `podnet reach -o json` shape with null SCTP cells; and of its
comparison with the model (`linux.verify.Comparison`), difference by difference."""

from __future__ import annotations

import json

from podnet.linux.verify import SCTP_NOTE, Comparison, Measured
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


def comparison_text(c: Comparison) -> str:
    """Every difference, then one line that says what was compared."""
    lines = [str(d) for d in c.differences] + list(c.service_problems or ())
    cells = sum(p.allowed.size for p in c.measured.reach.probes)
    skipped = len(c.measured.unsupported)
    note = f"; {skipped} SCTP port(s) not probed" if skipped else ""
    lines.append(
        f"{'no difference' if not c.total else f'{c.total} difference(s)'}:"
        f" {cells} pod-to-pod cell(s)"
        + (" and every pod to every Service port" if c.service_problems is not None else "")
        + f" compared{note}"
    )
    return "\n".join(lines) + "\n"


# The first format is the default.
RENDERERS = {
    Measured: {
        "table": render_table,
        "json": lambda m: json.dumps(to_json(m), indent=2) + "\n",
    },
    Comparison: {"text": comparison_text},
}
