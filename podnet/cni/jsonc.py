"""JSON for the plugin's hot path, on the C accelerator alone.

`import json` imports `re` and compiles its patterns, a cost paid again at every plugin start;
the `_json` C module underneath needs neither. `loads` and `dumps` here accept and write the
same JSON as the `json` module (`dumps` as `json.dumps(obj, indent=...)`, ASCII-only).
"""

from __future__ import annotations

import _json

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
_WHITESPACE = " \t\n\r"


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict = {}


_scan = _json.make_scanner(_Context())


def loads(data: bytes | str) -> object:
    """The value of a JSON text; ValueError when it is not one (UnicodeDecodeError included)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes | bytearray) else data
    start = 0
    while start < len(text) and text[start] in _WHITESPACE:
        start += 1
    try:
        value, end = _scan(text, start)
    except (StopIteration, ValueError, SystemError):
        # Invalid: the scanner's own error needs json.decoder, and reporting it is not hot.
        return _stdlib_loads(text)
    while end < len(text) and text[end] in _WHITESPACE:
        end += 1
    if end != len(text):
        return _stdlib_loads(text)
    return value


def _stdlib_loads(text: str) -> object:
    import json

    return json.loads(text)


def dumps(obj: object, indent: int | None = None) -> str:
    out: list[str] = []
    _encode(obj, out, indent, 0)
    return "".join(out)


def _encode(o: object, out: list[str], indent: int | None, level: int) -> None:
    if o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, str):
        out.append(_json.encode_basestring_ascii(o))
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        if o != o or o in (float("inf"), float("-inf")):
            out.append("NaN" if o != o else ("Infinity" if o > 0 else "-Infinity"))
        else:
            out.append(float.__repr__(o))
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        _open(out, "{", indent, level + 1)
        for i, (key, value) in enumerate(o.items()):
            if not isinstance(key, str):
                raise TypeError(f"keys must be str, not {type(key).__name__}")
            if i:
                _sep(out, indent, level + 1)
            out.append(_json.encode_basestring_ascii(key))
            out.append(": ")
            _encode(value, out, indent, level + 1)
        _close(out, "}", indent, level)
    elif isinstance(o, list | tuple):
        if not o:
            out.append("[]")
            return
        _open(out, "[", indent, level + 1)
        for i, value in enumerate(o):
            if i:
                _sep(out, indent, level + 1)
            _encode(value, out, indent, level + 1)
        _close(out, "]", indent, level)
    else:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _open(out: list[str], bracket: str, indent: int | None, level: int) -> None:
    out.append(bracket if indent is None else bracket + "\n" + " " * (indent * level))


def _sep(out: list[str], indent: int | None, level: int) -> None:
    out.append(", " if indent is None else ",\n" + " " * (indent * level))


def _close(out: list[str], bracket: str, indent: int | None, level: int) -> None:
    out.append(bracket if indent is None else "\n" + " " * (indent * level) + bracket)
