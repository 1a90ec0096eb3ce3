"""The registry of output formats: what each result prints in, and who may import `report`."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

from podnet.errors import InvalidValue
from podnet.ipam import capacity as ipam_capacity
from podnet.ipam import subnet as sn
from podnet.linux.service_probe import ServiceMatrix
from podnet.linux.verify import Comparison, Measured
from podnet.model.inventory import Inventory
from podnet.path.service_reach import ServiceReach
from podnet.path.trace import Trace, Traces
from podnet.policy.diff import Diff
from podnet.policy.explain import Explanation, Explanations
from podnet.policy.lint import Findings
from podnet.policy.matrix import Reach
from podnet.report import demo, dns, proxy, status, subnet
from podnet.report.formats import REGISTRY, choices, formats, name_of, render

PACKAGE = Path(__file__).resolve().parents[1] / "podnet"

# The --output choices the commands have always offered, the default first.
EXPECTED = {
    Reach: ("table", "json", "csv", "md", "dot"),
    ServiceReach: ("table", "json"),
    Measured: ("table", "json"),
    Comparison: ("text",),
    ServiceMatrix: ("table", "json"),
    Trace: ("text", "json"),
    Traces: ("text", "json"),
    Explanation: ("text", "json"),
    Explanations: ("text", "json"),
    Findings: ("text", "json"),
    proxy.ProxyTrace: ("text", "json"),
    dns.Resolved: ("text", "json"),
    subnet.Infos: ("table", "json"),
    subnet.Splits: ("table", "json"),
    sn.VlsmPlan: ("table", "json"),
    subnet.FreeSpace: ("table", "json"),
    subnet.Summary: ("table", "json"),
    subnet.Overlaps: ("table", "json"),
    subnet.Containment: ("table", "json"),
    subnet.Ranges: ("table", "json"),
    ipam_capacity.Report: ("table", "json"),
    status.Statuses: ("table", "json"),
    demo.Tour: ("text",),
    Inventory: ("table", "wide", "json"),
    Diff: ("text", "json", "md"),
}


def test_every_result_has_its_formats() -> None:
    assert {name: formats(name) for name in REGISTRY} == {
        name_of(kind): names for kind, names in EXPECTED.items()
    }


def test_the_registry_and_the_renderer_modules_agree() -> None:
    """Each result's renderer module renders exactly the formats the registry offers, in order;
    every renderer is registered."""
    rendered = {}
    for name, entry in REGISTRY.items():
        module = importlib.import_module(entry.renderers)
        rendered.update({name_of(kind): tuple(r) for kind, r in module.RENDERERS.items()})
        path, _, cls = name.rpartition(".")
        kind = getattr(importlib.import_module(path), cls)
        assert tuple(module.RENDERERS[kind]) == entry.formats, name
    assert rendered == {name: entry.formats for name, entry in REGISTRY.items()}


def test_choices_follow_the_registry() -> None:
    enum = choices("ReachFormat", Reach, ServiceReach)
    assert [m.value for m in enum] == list(EXPECTED[Reach])
    with pytest.raises(TypeError):
        choices("Narrow", ServiceReach, Reach)


def test_render_refuses_what_a_result_does_not_print_in() -> None:
    overlaps = subnet.Overlaps(())
    assert render(overlaps, "json") == "[]\n"
    with pytest.raises(InvalidValue, match="table or json"):
        render(overlaps, "csv")
    with pytest.raises(TypeError):
        render(object(), "json")


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_results_never_import_their_renderings() -> None:
    """Only `report` itself and the command line render: everything else is a result."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0]
        if part in ("report", "cli"):
            continue
        bad = sorted(
            m for m in _imports(path) if m == "podnet.report" or m.startswith("podnet.report.")
        )
        bad += sorted(m for m in _imports(path) if m == "rich" or m.startswith("rich."))
        if bad:
            offenders.append(f"{path.relative_to(PACKAGE)}: {', '.join(bad)}")
    assert offenders == []


def test_kernel_service_matrix_renderings() -> None:
    from podnet.linux import probe
    from podnet.linux.service_probe import Check

    def check(*outcomes: probe.Outcome) -> Check:
        return Check("x/a", "10.96.0.1:80/TCP", "x/s:80/TCP", None, outcomes)  # type: ignore[arg-type]

    services = ["x/s:80/TCP", "x/r:80/TCP", "x/d:80/TCP"]
    m = ServiceMatrix(
        ["x/a"],
        services,
        {
            ("x/a", services[0]): check(probe.Outcome(probe.OPEN, "x/b"), probe.Outcome("timeout")),
            ("x/a", services[1]): check(probe.Outcome(probe.REFUSED)),
            ("x/a", services[2]): check(probe.Outcome("timeout")),
        },
    )
    row = next(line for line in render(m, "table").splitlines() if "x/a" in line)
    assert [c.strip() for c in row.split("│")[2:5]] == ["✓", "R", "✗"]
    doc = json.loads(render(m, "json"))
    assert doc["allowed"] == {"x/a": dict(zip(services, [True, True, False], strict=True))}
    assert doc["endpoints"]["x/a"][services[0]] == {"outcome": "open/timeout", "reached": ["x/b"]}


def test_comparison_text() -> None:
    import numpy as np

    from podnet.linux.verify import Difference
    from podnet.policy.matrix import Probe

    kernel = Reach(["x/a", "x/b"], {}, [Probe(80, "TCP", np.ones((2, 2), dtype=bool))])
    measured = Measured(kernel, {}, [(90, "SCTP")])
    diff = Difference("x/a", "x/b", 80, "TCP", False, True, "open")
    assert render(
        Comparison((diff,), ("x/a -> 10.96.0.1:80/TCP: trace delivered",), measured), "text"
    ) == (
        "x/a -> x/b 80/TCP: model denied, kernel allowed (open)\n"
        "x/a -> 10.96.0.1:80/TCP: trace delivered\n"
        "2 difference(s): 4 pod-to-pod cell(s) and every pod to every Service port compared;"
        " 1 SCTP port(s) not probed\n"
    )
    assert render(Comparison((), None, Measured(kernel, {}, [])), "text") == (
        "no difference: 4 pod-to-pod cell(s) compared\n"
    )
