"""Errors a user can cause. The CLI prints them without a traceback and exits 2.

Library code speaks in its own words (`NotFound`, `InvalidValue`, `ManifestError`); only the
command line turns them into option wording (`UsageError`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class PodnetError(Exception):
    """Base of every error caused by input or usage."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid field, located as precisely as the input allows."""

    file: str
    line: int | None
    obj: str  # "Kind ns/name", or "" when the object itself is unreadable
    field: str  # field path such as "spec.ingress[0].ports[0].endPort", or ""
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.obj:
            parts.append(self.obj)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class ManifestError(PodnetError):
    """Invalid manifests: every problem found, not only the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(PodnetError):
    """A command-line value that cannot be used (unknown pod, bad port, ...)."""


class NotFound(PodnetError, LookupError):
    """An object asked for by name is not in the cluster: a node, a pod, a Service... `message`,
    where given, words the whole error (a narrower search: "no pod with an address")."""

    def __init__(
        self,
        kind: str,
        name: str,
        known: Iterable[str] | None = None,
        *,
        message: str | None = None,
    ):
        self.kind = kind
        self.name = name
        self.known = None if known is None else tuple(known)
        if message is None:
            message = f"no {kind} {name!r} in the cluster"
            if self.known is not None:
                message += f" ({kind}s: {', '.join(self.known) or 'none'})"
        super().__init__(message)


class InvalidValue(PodnetError, ValueError):
    """A value a function cannot work with; `field` names it as the caller gave it. `message`,
    where given, words the whole error (a value that reads better inside a sentence)."""

    def __init__(self, field: str, value: object, why: str, *, message: str | None = None):
        self.field = field
        self.value = value
        self.why = why
        super().__init__(message or f"invalid {field} {value}: {why}")
