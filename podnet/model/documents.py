"""Reading manifest files into documents that remember the line of every field.

Files, directories (recursively: *.yaml, *.yml, *.json) and stdin ("-"); multi-document YAML,
JSON, and `kind: List`. Nothing here knows what a Kubernetes object means.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from podnet.errors import ManifestError, Problem

try:  # LibYAML when present: the same results, several times faster
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

SUFFIXES = (".yaml", ".yml", ".json")

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Document:
    """One object read from a file, with the line (1-based) of each field path."""

    file: str
    index: int  # position of the document in its file, from 0
    data: Any
    lines: dict[FieldPath, int]

    def line(self, path: FieldPath = ()) -> int | None:
        """The line of the deepest known prefix of `path`."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files named, and the manifest files below directories named, in a stable order."""
    out: list[str] = []
    for p in paths:
        if p == "-":
            out.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            out += sorted(
                str(f) for f in path.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES
            )
        elif path.exists():
            out.append(p)
        else:
            raise ManifestError([Problem(p, None, "", "", "no such file or directory")])
    return out


def read_documents(paths: Iterable[str]) -> list[Document]:
    """Every object in the files, `kind: List` items flattened. Raises ManifestError."""
    docs: list[Document] = []
    problems: list[Problem] = []
    for name in expand_paths(paths):
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            problems.append(Problem(name, None, "", "", f"cannot read: {err}"))
            continue
        try:
            docs += parse_text("<stdin>" if name == "-" else name, text)
        except ManifestError as err:
            problems += err.problems
    if problems:
        raise ManifestError(problems)
    return docs


def parse_text(file: str, text: str) -> list[Document]:
    """Documents of one text; raises ManifestError on a syntax error."""
    try:
        return _parse_text(file, text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(err, "problem", None) or str(err)
        raise ManifestError([Problem(file, line, "", "", f"invalid YAML: {what}")]) from None


def _parse_text(file: str, text: str) -> list[Document]:
    out: list[Document] = []
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            lines: dict[FieldPath, int] = {}
            _record_lines(node, (), lines)
            if (
                isinstance(data, dict)
                and data.get("kind") == "List"
                and isinstance(data.get("items"), list)
            ):
                for i, item in enumerate(data["items"]):
                    prefix: FieldPath = ("items", i)
                    sub = {p[2:]: ln for p, ln in lines.items() if p[:2] == prefix}
                    out.append(Document(file, index, item, sub))
                    index += 1
            elif data is not None:
                out.append(Document(file, index, data, lines))
                index += 1
    finally:
        loader.dispose()
    return out


def _record_lines(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> None:
    stack: list[tuple[yaml.Node, FieldPath]] = [(node, path)]
    seen: set[int] = set()
    while stack:
        n, p = stack.pop()
        lines.setdefault(p, n.start_mark.line + 1)
        if id(n) in seen:  # an alias: same node again
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
                lines.setdefault((*p, key), k.start_mark.line + 1)
                stack.append((v, (*p, key)))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                stack.append((v, (*p, i)))
