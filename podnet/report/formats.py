"""The one registry of output formats: for each type of result, the formats it prints in (the
first is the default) and the module under `report/` that renders it.

The CLI takes its `--output` choices from here and prints `render(result, format)`; a renderer
returns exactly what the command writes, final newline included (the reach JSON alone, as it
always has, ends without one). Result types are named, not
imported, so that a command offers its formats without loading every analysis (a kernel probe's
result alone pulls in asyncio): a renderer module is imported when its result is printed. A new
format is a renderer in that module's `RENDERERS` and its name here; a new result type, one entry
here and a renderer module (tests/test_report_formats.py checks that the two agree).

This registry only dispatches: it computes nothing and formats nothing itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from podnet.errors import InvalidValue

Renderer = Callable[[Any], str]

TEXT = ("text", "json")
TABLE = ("table", "json")


@dataclass(frozen=True, slots=True)
class Entry:
    renderers: str  # the module whose RENDERERS[result type][format] renders it
    formats: tuple[str, ...]  # the default first


REGISTRY: dict[str, Entry] = {
    "podnet.policy.matrix.Reach": Entry(
        "podnet.report.reach", ("table", "json", "csv", "md", "dot")
    ),
    "podnet.path.service_reach.ServiceReach": Entry("podnet.report.service_reach", TABLE),
    "podnet.linux.verify.Measured": Entry("podnet.report.verify", TABLE),
    "podnet.linux.verify.Comparison": Entry("podnet.report.verify", ("text",)),
    "podnet.linux.service_probe.ServiceMatrix": Entry("podnet.report.service_reach", TABLE),
    "podnet.path.trace.Trace": Entry("podnet.report.trace", TEXT),
    "podnet.path.trace.Traces": Entry("podnet.report.trace", TEXT),
    "podnet.policy.explain.Explanation": Entry("podnet.report.explain", TEXT),
    "podnet.policy.explain.Explanations": Entry("podnet.report.explain", TEXT),
    "podnet.policy.lint.Findings": Entry("podnet.report.lint", TEXT),
    "podnet.policy.diff.Diff": Entry("podnet.report.diff", ("text", "json", "md")),
    "podnet.report.proxy.ProxyTrace": Entry("podnet.report.proxy", TEXT),
    "podnet.report.dns.Resolved": Entry("podnet.report.dns", TEXT),
    "podnet.report.subnet.Infos": Entry("podnet.report.subnet", TABLE),
    "podnet.report.subnet.Splits": Entry("podnet.report.subnet", TABLE),
    "podnet.ipam.subnet.VlsmPlan": Entry("podnet.report.subnet", TABLE),
    "podnet.report.subnet.FreeSpace": Entry("podnet.report.subnet", TABLE),
    "podnet.report.subnet.Summary": Entry("podnet.report.subnet", TABLE),
    "podnet.report.subnet.Overlaps": Entry("podnet.report.subnet", TABLE),
    "podnet.report.subnet.Containment": Entry("podnet.report.subnet", TABLE),
    "podnet.report.subnet.Ranges": Entry("podnet.report.subnet", TABLE),
    "podnet.ipam.capacity.Report": Entry("podnet.report.ipam", TABLE),
    "podnet.report.status.Statuses": Entry("podnet.report.status", TABLE),
    "podnet.report.demo.Tour": Entry("podnet.report.demo", ("text",)),
    "podnet.model.inventory.Inventory": Entry("podnet.report.get", ("table", "wide", "json")),
}


class FormatNotOffered(InvalidValue):
    """A result asked for in a format it does not print in; `formats` are those it does."""

    def __init__(self, kind: type, fmt: str, formats: tuple[str, ...]):
        self.kind = kind
        self.formats = formats
        super().__init__("format", fmt, f"{kind.__name__} prints as {' or '.join(formats)} only")


def name_of(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def formats(kind: str | type) -> tuple[str, ...]:
    """The formats a result of type `kind` (or its dotted name) prints in, the default first."""
    return REGISTRY[kind if isinstance(kind, str) else name_of(kind)].formats


def choices(name: str, *kinds: str | type) -> type[StrEnum]:
    """The `--output` choices of a command that prints results of `kinds`: the formats of the
    first, in order (its default first); the others must print in a subset of them."""
    names = formats(kinds[0])
    for kind in kinds[1:]:
        if not set(formats(kind)) <= set(names):
            raise TypeError(f"{kind} prints in formats {name} does not offer")
    return StrEnum(name, [(n, n) for n in names])  # type: ignore[return-value]


def renderer(kind: type, fmt: str) -> Renderer:
    """The function that prints a result of type `kind` in format `fmt`."""
    entry = REGISTRY.get(name_of(kind))
    if entry is None:
        raise TypeError(f"no renderer for {name_of(kind)}")
    if fmt not in entry.formats:
        raise FormatNotOffered(kind, fmt, entry.formats)
    return importlib.import_module(entry.renderers).RENDERERS[kind][fmt]


def render(result: object, fmt: str) -> str:
    """`result` in format `fmt`, as the command writes it."""
    return renderer(type(result), fmt)(result)
