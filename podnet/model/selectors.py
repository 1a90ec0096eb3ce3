"""Label selectors (metav1.LabelSelector): matchLabels and matchExpressions, ANDed.

Pure and hashable, so that identical selectors are evaluated once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        if self.operator in ("Gt", "Lt"):  # node selector terms only
            try:
                have, want = int(labels[self.key]), int(self.values[0])
            except (KeyError, IndexError, ValueError):
                return False
            return have > want if self.operator == "Gt" else have < want
        return self.key not in labels  # DoesNotExist

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        op = "in" if self.operator == "In" else "notin"
        return f"{self.key} {op} ({','.join(self.values)})"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """`match_labels` is kept as sorted pairs so the selector is hashable."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    @classmethod
    def of(
        cls, match_labels: Mapping[str, str] | None = None, *exprs: Requirement
    ) -> LabelSelector:
        return cls(tuple(sorted((match_labels or {}).items())), tuple(exprs))

    @property
    def is_empty(self) -> bool:
        """An empty selector matches everything."""
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.match_expressions
        )

    def __str__(self) -> str:
        if self.is_empty:
            return "{}"
        parts = [f"{k}={v}" for k, v in self.match_labels]
        parts += [str(r) for r in self.match_expressions]
        return ",".join(parts)
