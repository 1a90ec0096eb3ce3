"""Reading manifest files into documents that remember the line of every field.

Files, directories (recursively: *.yaml, *.yml, *.json) and stdin ("-"), decoded and read as
kubectl reads them (UTF-8, or UTF-16 after a byte-order mark; YAML 1.1 as go-yaml resolves it);
multi-document YAML, JSON, and `kind: List`. Nothing here knows what a Kubernetes object means.
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from podnet.errors import ManifestError, Problem

try:  # LibYAML when present: the same results, several times faster
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Base = yaml.SafeLoader

# kubectl reads YAML with go-yaml v2 (through sigs.k8s.io/yaml), whose YAML 1.1 differs from
# PyYAML's: an unquoted date or time stays a string; `=` is a string (PyYAML resolves it to the
# `value` tag and then cannot build it); integers are Go literals (`0o17`, `017`, `0x1F`, `0b101`,
# with `_` anywhere) and `1:20` is no base-60 number. Plain scalars are resolved here as go-yaml
# resolves them, so a document kubectl applies reads the same. One exception: go-yaml also reads
# `y` and `n` as booleans, which the API server then refuses wherever a string is due; here they
# stay strings, accepting what kubectl refuses rather than the reverse (namespaces named x, y, z
# as upstream's policy tests name them keep working).
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_TRUE = frozenset(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"))
_FALSE = frozenset(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"))
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_SPECIAL_FLOATS = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), float("nan")),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), float("inf")),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), float("-inf")),
}
# strconv.ParseInt(s, 0, 64) after go-yaml removed every "_"
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INT64 = range(-(2**63), 2**64)  # ParseInt, then ParseUint


def _go_int(text: str) -> int | None:
    plain = text.replace("_", "")
    if not _GO_INT.fullmatch(plain):
        return None
    sign, digits = (-1, plain[1:]) if plain[0] == "-" else (1, plain.lstrip("+"))
    base = 8 if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit() else 0
    value = sign * int(digits, base)
    return value if value in _INT64 else None


def _plain_tag(value: str) -> str:
    """The tag go-yaml v2 gives an unquoted scalar."""
    if value in _TRUE or value in _FALSE:
        return _BOOL
    if value in _NULLS:
        return _NULL
    if value in _SPECIAL_FLOATS:
        return _FLOAT
    if value == "<<":
        return _MERGE
    first = value[0]
    if first == ".":
        return _FLOAT if _GO_FLOAT.fullmatch(value) else _STR
    if first.isdigit() or first in "+-":
        if _go_int(value) is not None:
            return _INT
        if _GO_FLOAT.fullmatch(value.replace("_", "")):
            return _FLOAT
    return _STR


def _scalar(tag: str, value: str) -> Any:
    """The value of a scalar resolved by `_plain_tag` (or tagged so explicitly)."""
    if tag == _BOOL:
        if value in _TRUE or value in _FALSE:
            return value in _TRUE
        raise ValueError(f"invalid boolean: {value!r}")
    if tag == _INT:
        number = _go_int(value)
        if number is None:
            raise ValueError(f"invalid integer: {value!r}")
        return number
    if value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    return float(value.replace("_", ""))


def _key_text(key: Any) -> Any:
    """A map key as sigs.k8s.io/yaml turns it into a JSON key: booleans and integers become
    their text (`on:` is "true", `1:` is "1"); other keys are left for the checks to name."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    return key


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """The safe loader with go-yaml's plain scalars and JSON's string keys."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _plain_tag(value)
        return super().resolve(kind, value, implicit)

    def construct_go_scalar(self, node: yaml.ScalarNode) -> Any:
        return _scalar(node.tag, self.construct_scalar(node))

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        # Keys become text before they meet: `true:` and `1:` are one Python key, not two.
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping node, but found {node.id}", node.start_mark
            )
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _key_text(self.construct_object(key_node, deep=deep))
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found unhashable key",
                    key_node.start_mark,
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


for _tag in (_BOOL, _INT, _FLOAT):
    _Loader.add_constructor(_tag, _Loader.construct_go_scalar)

SUFFIXES = (".yaml", ".yml", ".json")
HELM_HINT = (
    " (the file holds `{{ ... }}`: an unrendered Helm template? render it first:"
    " helm template NAME CHART > manifests.yaml)"
)

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
    missing: list[Problem] = []
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
            missing.append(Problem(p, None, "", "", "no such file or directory"))
    if missing:
        raise ManifestError(missing)
    return out


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(raw: bytes) -> str:
    """Bytes as kubectl decodes a manifest: a byte-order mark chooses UTF-8 or UTF-16 and is
    dropped (Windows editors and PowerShell's `>` write them); without one, UTF-8."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return raw.decode(codec)
    return raw.decode("utf-8")


def read_text(name: str) -> str:
    """The text of a manifest file, or of stdin for "-". Raises OSError, UnicodeDecodeError."""
    if name != "-":
        return decode(Path(name).read_bytes())
    stream = getattr(sys.stdin, "buffer", None)
    return decode(stream.read()) if stream is not None else sys.stdin.read()


def read_documents(paths: Iterable[str]) -> list[Document]:
    """Every object in the files, `kind: List` items flattened. Raises ManifestError."""
    docs: list[Document] = []
    problems: list[Problem] = []
    for name in expand_paths(paths):
        try:
            text = read_text(name)
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
        if "{{" in text:
            what += HELM_HINT
        raise ManifestError([Problem(file, line, "", "", f"invalid YAML: {what}")]) from None


def _parse_text(file: str, text: str) -> list[Document]:
    out: list[Document] = []
    problems: list[Problem] = []
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            # Lines and repeated keys are read before construction flattens merge keys (`<<`),
            # whose keys a mapping may set again. The walk also measures the depth and sees
            # whether an alias shares a node: only then is the full alias check needed.
            lines: dict[FieldPath, int] = {}
            duplicates: list[tuple[int, str]] = []
            depth, shared = _record_lines(node, (), lines, duplicates)
            unusable = _unusable(node) if shared else ""
            if depth > MAX_DEPTH:
                unusable = f"nested more than {MAX_DEPTH} levels deep"
            if unusable:
                problems.append(Problem(file, line, "", "", f"invalid YAML: {unusable}"))
                index += 1
                continue
            try:
                data = loader.construct_document(node)
            except (ValueError, TypeError, OverflowError, RecursionError) as err:
                # e.g. the date 2024-02-30
                _reset_constructor(loader)
                problems.append(Problem(file, line, "", "", f"invalid YAML: {err}"))
                index += 1
                continue
            if shared:  # the keys merge keys brought in, now in their mappings
                _record_lines(node, (), lines, [])
            if duplicates:
                problems += [Problem(file, at, "", "", why) for at, why in duplicates]
                index += 1
                continue
            if _is_list(data):
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
    if problems:
        raise ManifestError(problems)
    return out


def _is_list(data: Any) -> bool:
    """`kind: List` as kubectl writes it, or a typed list such as `PodList`."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("kind"), str)
        and data["kind"].endswith("List")
        and isinstance(data.get("items"), list)
    )


def _reset_constructor(loader: Any) -> None:
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.state_generators = []


MAX_DEPTH = 512
MAX_ALIAS_EXPANSION = 100_000


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _unusable(root: yaml.Node) -> str:
    """Why a document cannot be read as data: a recursive alias, nesting deeper than any object
    needs, or aliases that expand beyond reason ("billion laughs"). Empty when it can be read."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if depth[key] > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep"
            continue
        if key in size:
            continue
        open_.add(key)
        stack.append((node, True))
        for c in children:
            if id(c) in open_:
                return f"line {c.start_mark.line + 1}: an alias refers to a node that contains it"
            if id(c) not in size:
                stack.append((c, False))
    total = size[id(root)]
    if total > MAX_ALIAS_EXPANSION and total > 100 * len(size):
        return f"aliases expand the document to {total} values (at most {MAX_ALIAS_EXPANSION})"
    return ""


def _duplicate(key: str, first: int, path: FieldPath) -> str:
    where = ".".join(str(p) for p in path)
    text = f'invalid YAML: key "{key}" already set in map{" " + where if where else ""}'
    text += f" (first at line {first})"
    if not path:  # two objects run together: the usual cause is a missing separator
        text += '; separate objects with a line "---"'
    return text


def _node_key(node: yaml.Node) -> str:
    """A key's text in the field paths: as the document's data has it (`on:` is "true")."""
    if not isinstance(node, yaml.ScalarNode):
        return str(node.value)
    if node.tag in (_BOOL, _INT):
        try:
            return str(_key_text(_scalar(node.tag, node.value)))
        except ValueError:
            pass
    return str(node.value)


def _record_lines(
    node: yaml.Node,
    path: FieldPath,
    lines: dict[FieldPath, int],
    duplicates: list[tuple[int, str]],
) -> tuple[int, bool]:
    """Record the line of every field path below `node`; return the deepest path's length and
    whether an alias made a node appear twice. A key that a mapping repeats is described in
    `duplicates` (kubectl refuses such a document)."""
    stack: list[tuple[yaml.Node, FieldPath]] = [(node, path)]
    seen: set[int] = set()
    depth = 0
    shared = False
    while stack:
        n, p = stack.pop()
        depth = max(depth, len(p))
        lines.setdefault(p, n.start_mark.line + 1)
        if id(n) in seen:  # an alias: same node again
            shared = True
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            keys: set[str] = set()
            for k, v in n.value:
                key = _node_key(k)
                if key in keys and key != "<<":
                    here = k.start_mark.line + 1
                    duplicates.append((here, _duplicate(key, lines[(*p, key)], p)))
                keys.add(key)
                lines.setdefault((*p, key), k.start_mark.line + 1)
                stack.append((v, (*p, key)))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                stack.append((v, (*p, i)))
    return depth, shared
