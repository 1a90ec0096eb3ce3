"""The one registry of output formats: for each type of result, the formats it prints in (the
first is the default) and the renderer of each.

The CLI takes its `--output` choices from here and prints `render(result, format)`; a renderer
returns exactly what the command writes, final newline included. A new format is one entry in a
renderer module's `RENDERERS`; a new result type, a renderer module added to `_MODULES`.

This registry only dispatches: it computes nothing and formats nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from types import ModuleType
from typing import Any

from podnet.errors import UsageError
from podnet.report import (
    demo,
    dns,
    explain,
    ipam,
    lint,
    proxy,
    reach,
    service_reach,
    status,
    subnet,
    trace,
    verify,
)

Renderer = Callable[[Any], str]

_MODULES: tuple[ModuleType, ...] = (
    reach,
    verify,
    service_reach,
    trace,
    explain,
    lint,
    proxy,
    dns,
    subnet,
    ipam,
    status,
    demo,
)


def _registry() -> dict[type, Mapping[str, Renderer]]:
    out: dict[type, Mapping[str, Renderer]] = {}
    for module in _MODULES:
        for kind, renderers in module.RENDERERS.items():
            if kind in out:
                raise TypeError(f"{kind.__name__} is rendered by two modules")
            out[kind] = renderers
    return out


REGISTRY = _registry()


def formats(kind: type) -> tuple[str, ...]:
    """The formats a result of type `kind` prints in, the default first."""
    return tuple(REGISTRY[kind])


def choices(name: str, *kinds: type) -> type[StrEnum]:
    """The `--output` choices of a command that prints results of `kinds`: the formats of the
    first, in order (its default first); the others must print in a subset of them."""
    names = formats(kinds[0])
    for kind in kinds[1:]:
        if not set(formats(kind)) <= set(names):
            raise TypeError(f"{kind.__name__} prints in formats {name} does not offer")
    return StrEnum(name, [(n, n) for n in names])  # type: ignore[return-value]


def render(result: object, fmt: str) -> str:
    """`result` in format `fmt`, as the command writes it."""
    renderers = REGISTRY.get(type(result))
    if renderers is None:
        raise TypeError(f"no renderer for {type(result).__name__}")
    if fmt not in renderers:
        raise UsageError(
            f"-o {fmt}: {type(result).__name__} prints as {' or '.join(renderers)} only"
        )
    return renderers[fmt](result)
