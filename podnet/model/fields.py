"""Typed, located access to the fields of one manifest document.

A `Field` is a value and its path; reading it with the wrong type records a problem (file, line,
object, field path) instead of raising, so that every error of a file is reported at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from podnet.errors import Problem
from podnet.model.documents import Document, FieldPath


@dataclass
class Context:
    doc: Document
    obj: str = ""  # "Kind ns/name" once known
    problems: list[Problem] = field(default_factory=list)
    reported: set[tuple[FieldPath, str]] = field(default_factory=set)

    def error(self, path: FieldPath, message: str) -> None:
        if (path, message) in self.reported:  # a field read twice reports its problem once
            return
        self.reported.add((path, message))
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
        """The field `key` of a map; reading into a value that is not a map is an error."""
        if isinstance(self.value, dict):
            return Field(self.ctx, self.value.get(key), (*self.path, key))
        if self.value is not None:
            self.error(f"must be an object, not {type_name(self.value)}")
        return Field(self.ctx, None, (*self.path, key))

    def unknown_fields(self, known: Collection[str]) -> None:
        """An error for each key of this map the schema has not: the API server's strict field
        validation (kubectl apply's default) refuses them, so that a misspelt field is never
        silently left at its default."""
        if not isinstance(self.value, dict):
            return
        for key in self.value:
            if key not in known:
                near = get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                self[str(key)].error(f"unknown field{hint}")

    @property
    def present(self) -> bool:
        return self.value is not None

    def error(self, message: str) -> None:
        self.ctx.error(self.path, message)

    def check(self, value: Any, check: Callable[[Any], list[str]]) -> bool:
        """Record every message `check` gives for `value`; True when there is none."""
        messages = check(value)
        for m in messages:
            self.error(f"Invalid value: {quote(value)}: {m}")
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

    def choice(self, allowed: tuple[str, ...], default: str) -> str:
        """A string from `allowed` (`default` when absent or empty, and after an error)."""
        value = self.str(default) or default
        if value not in allowed:
            self.error(
                f'Unsupported value: "{value}": supported values: '
                + ", ".join(f'"{a}"' for a in allowed)
            )
            return default
        return value

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
        """The keys of a map; a key that is not a string (`1:`, `true:`, `~:`) is an error."""
        if not self.is_map():
            return []
        out = []
        for k in self.value:
            if isinstance(k, str):
                out.append(k)
            else:
                Field(self.ctx, None, (*self.path, str(k))).error(
                    f"key must be a string, not {type_name(k)}"
                )
        return out

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

    def objects(self) -> list[Field]:
        """The elements of a list of objects. A null element is the empty object, as JSON null
        decodes into a struct's zero value; an element of another type is an error, skipped."""
        out = []
        for item in self.items():
            if item.value is None:
                out.append(Field(self.ctx, {}, item.path))
            elif item.is_map():
                out.append(item)
        return out

    def string_items(self) -> list[tuple[Field, str]]:
        """The string elements of a list with their fields; other elements are errors."""
        out = []
        for item in self.items():
            if isinstance(item.value, str):
                out.append((item, item.value))
            else:
                item.error(f"must be a string, not {type_name(item.value)}")
        return out

    def strings(self) -> list[str]:
        return [s for _, s in self.string_items()]


def quote(value: Any) -> str:
    """A value as the API server quotes it in messages: strings in double quotes."""
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


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
