"""Typed, located access to the fields of one manifest document.

A `Field` is a value and its path; reading it with the wrong type records a problem (file, line,
object, field path) instead of raising, so that every error of a file is reported at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from podnet.errors import Problem
from podnet.model.documents import Document, FieldPath


@dataclass
class Context:
    doc: Document
    obj: str = ""  # "Kind ns/name" once known
    problems: list[Problem] = field(default_factory=list)

    def error(self, path: FieldPath, message: str) -> None:
        self.problems.append(
            Problem(self.doc.file, self.doc.line(path), self.obj, format_path(path), message)
        )


def format_path(path: FieldPath) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


class Field:
    __slots__ = ("ctx", "path", "value")

    def __init__(self, ctx: Context, value: Any, path: FieldPath = ()):
        self.ctx = ctx
        self.value = value
        self.path = path

    def __getitem__(self, key: str) -> Field:
        v = self.value.get(key) if isinstance(self.value, dict) else None
        return Field(self.ctx, v, (*self.path, key))

    @property
    def present(self) -> bool:
        return self.value is not None

    def error(self, message: str) -> None:
        self.ctx.error(self.path, message)

    def check(self, value: Any, check: Callable[[Any], list[str]]) -> bool:
        """Record every message `check` gives for `value`; True when there is none."""
        messages = check(value)
        for m in messages:
            self.error(f"Invalid value: {value!r}: {m}")
        return not messages

    def _typed(self, kind: type | tuple[type, ...], what: str) -> bool:
        if self.value is None:
            return False
        if isinstance(self.value, kind) and not (kind is not bool and isinstance(self.value, bool)):
            return True
        self.error(f"must be {what}, not {type_name(self.value)}")
        return False

    def str(self, default: str = "", *, required: bool = False) -> str:
        if required and self.value in (None, ""):
            self.error("Required value")
            return default
        return self.value if self._typed(str, "a string") else default

    def int(self, default: int | None = None, *, required: bool = False) -> int | None:
        if required and self.value is None:
            self.error("Required value")
        return self.value if self._typed(int, "an integer") else default

    def bool(self, default: bool = False) -> bool:
        return self.value if self._typed(bool, "a boolean") else default

    def int_or_str(self) -> int | str | None:
        if self.value is None:
            return None
        if isinstance(self.value, str) or (
            isinstance(self.value, int) and not isinstance(self.value, bool)
        ):
            return self.value
        self.error(f"must be an integer or a string, not {type_name(self.value)}")
        return None

    def items(self) -> list[Field]:
        """The elements of a list (an absent list is empty)."""
        if not self._typed(list, "a list"):
            return []
        return [Field(self.ctx, v, (*self.path, i)) for i, v in enumerate(self.value)]

    def is_map(self) -> bool:
        return self._typed(dict, "an object")

    def keys(self) -> list[str]:
        return [str(k) for k in self.value] if self.is_map() else []

    def string_map(self) -> dict[str, str]:
        """A map of strings to strings (labels, nodeSelector, matchLabels)."""
        out: dict[str, str] = {}
        for k in self.keys():
            v = self.value[k]
            if not isinstance(v, str):
                self[k].error(f"must be a string, not {type_name(v)}")
                continue
            out[k] = v
        return out

    def strings(self) -> list[str]:
        out = []
        for item in self.items():
            if isinstance(item.value, str):
                out.append(item.value)
            else:
                item.error(f"must be a string, not {type_name(item.value)}")
        return out


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
