"""docs/contracts.md against the commands: every JSON output is documented there, and each
example has the key structure the command really prints, so the document cannot drift.

An example is marked by the HTML comment before its ```json block:

    <!-- json RESULT: podnet ARGS... | maps: PATH... | optional: PATH... -->

- RESULT is the result type's class name in `report.formats.REGISTRY` (`Reach`, `Trace`, ...);
  every result that prints JSON needs at least one marked example.
- `podnet ARGS...` is run from the repository's root and its output compared with the example.
  Without it, the value comes from BUILDERS below (results that need a cluster up, as root), or,
  for those in NOT_RUN, the example is only checked to be JSON.
- `maps:` names the objects whose keys are data (pod names, addresses), not field names: their
  values are compared, whatever their keys. A PATH is the keys from the top joined by dots,
  lists are transparent and a map's values are `*` (`probes.allowed.*`).
- `optional:` names keys the command prints only in some cases (`pending`).

Values are never compared (addresses are generated), only keys; and where either side has null, an
empty list or an empty object, nothing under it is compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from podnet.linux import probe
from podnet.linux.service_probe import Check, ServiceMatrix
from podnet.linux.verify import Measured
from podnet.policy.matrix import Probe, Reach
from podnet.report.formats import REGISTRY, render
from tests.cli import run

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "contracts.md"

MARKED = re.compile(
    r"^<!-- *json +(?P<result>\w+) *(?:: *podnet +(?P<command>[^|\n]*?))? *"
    r"(?P<options>(?:\|[^|\n]*?)*) *-->\n```json\n(?P<body>.*?)\n```",
    re.DOTALL | re.MULTILINE,
)


def _measured() -> Measured:
    """What `podnet probe -o json` prints from: a TCP matrix and an SCTP port not probed."""
    pods = ["x/a", "x/b"]
    reach = Reach(
        pods, {"x/a": "10.244.1.2", "x/b": "10.244.2.2"}, [Probe(80, "TCP", np.eye(2, dtype=bool))]
    )
    return Measured(reach, {}, [(9999, "SCTP")])


def _service_matrix() -> ServiceMatrix:
    """What `podnet probe --services -o json` prints from."""
    checks = {
        ("x/a", "x/svc:80/TCP"): Check(
            "x/a",
            "10.96.0.20:80/TCP",
            "x/svc:80/TCP",
            None,  # type: ignore[arg-type]  # the renderer reads only the outcomes
            (probe.Outcome(probe.OPEN, "x/b", "10.244.1.2"), probe.Outcome(probe.TIMEOUT)),
        )
    }
    return ServiceMatrix(["x/a"], ["x/svc:80/TCP"], checks)


BUILDERS: dict[str, Callable[[], object]] = {
    "Measured": _measured,
    "ServiceMatrix": _service_matrix,
}
# Results whose JSON only a cluster that is up gives (`podnet status`, as root).
NOT_RUN = {"Statuses"}


class Example:
    def __init__(self, match: re.Match[str]):
        self.result = match["result"]
        self.command = (match["command"] or "").split()
        self.line = DOC.read_text()[: match.start()].count("\n") + 1
        self.body = match["body"]
        options: dict[str, set[str]] = {"maps": set(), "optional": set()}
        for part in match["options"].split("|")[1:]:
            name, _, paths = part.partition(":")
            assert name.strip() in options, f"contracts.md:{self.line}: unknown {name.strip()!r}"
            options[name.strip()] |= set(paths.split())
        self.maps = options["maps"]
        self.optional = options["optional"]

    def __repr__(self) -> str:
        return f"contracts.md:{self.line} {self.result} {' '.join(self.command)}"


EXAMPLES = [Example(m) for m in MARKED.finditer(DOC.read_text())]


def key_paths(value: object, maps: set[str], at: str = "") -> tuple[set[str], set[str]]:
    """The key paths of a JSON value, and the paths whose value is null or empty (unknown)."""
    paths: set[str] = set()
    unknown: set[str] = set()
    if value is None or value == [] or value == {}:
        unknown.add(at)
    elif isinstance(value, list):
        for item in value:
            p, u = key_paths(item, maps, at)
            paths |= p
            unknown |= u
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{at}.*" if at in maps else f"{at}.{key}" if at else key
            if at not in maps:
                paths.add(path)
            p, u = key_paths(item, maps, path)
            paths |= p
            unknown |= u
    return paths, unknown


def _under(path: str, prefixes: set[str]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def differences(documented: object, printed: object, ex: Example) -> tuple[list[str], list[str]]:
    """Keys the example has and the output lacks, and the reverse."""
    doc_paths, doc_unknown = key_paths(documented, ex.maps)
    out_paths, out_unknown = key_paths(printed, ex.maps)
    missing = sorted(
        p
        for p in doc_paths - out_paths
        if not _under(p, ex.optional) and not _under(p, out_unknown - {""})
    )
    undocumented = sorted(
        p
        for p in out_paths - doc_paths
        if not _under(p, ex.optional) and not _under(p, doc_unknown - {""})
    )
    return missing, undocumented


def test_the_document_has_examples_to_check():
    assert len(EXAMPLES) >= 15
    for ex in EXAMPLES:
        assert ex.command or ex.result in BUILDERS or ex.result in NOT_RUN, ex


def test_every_json_output_is_documented():
    """A result type that prints JSON has a marked example (a new one needs its own)."""
    printing_json = {name.rpartition(".")[2] for name, e in REGISTRY.items() if "json" in e.formats}
    documented = {ex.result for ex in EXAMPLES}
    assert printing_json - documented == set()
    assert documented - printing_json == set(), "examples marked with an unknown result"


@pytest.mark.parametrize("ex", EXAMPLES, ids=repr)
def test_example_has_the_keys_of_the_real_output(ex, capsys, monkeypatch):
    documented = json.loads(ex.body)
    if ex.command:
        monkeypatch.chdir(ROOT)
        code, out, err = run(capsys, monkeypatch, *ex.command)
        assert code in (0, 1), f"podnet {' '.join(ex.command)}: exit {code}: {err}"
        assert "-o" in ex.command or "--output" in ex.command, ex
    elif ex.result in BUILDERS:
        out = render(BUILDERS[ex.result](), "json")
    else:
        return
    missing, undocumented = differences(documented, json.loads(out), ex)
    assert (missing, undocumented) == ([], []), (
        f"{ex}: keys in the example but not in the output: {missing}; "
        f"keys in the output but not in the example: {undocumented}"
    )


CASES = [
    # (documented, printed, maps, optional, missing, undocumented)
    ({"a": 1, "b": {"c": 2}}, {"a": 5, "b": {"c": 7}}, set(), set(), [], []),
    ({"a": 1}, {"a": 1, "z": 2}, set(), set(), [], ["z"]),
    ({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {}}, set(), set(), [], []),
    ({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"d": 2}}, set(), set(), ["b.c"], ["b.d"]),
    ({"a": [{"x": 1}, {"y": 2}]}, {"a": [{"y": 1}, {"x": 2}, {"x": 3}]}, set(), set(), [], []),
    ({"ips": {"x/a": "1"}}, {"ips": {"ns/p": "2", "ns/q": "3"}}, {"ips"}, set(), [], []),
    ({"m": {"k": {"a": 1}}}, {"m": {"j": {"b": 1}}}, {"m"}, set(), ["m.*.a"], ["m.*.b"]),
    ({"a": 1, "pending": {"x": "y"}}, {"a": 1}, {"pending"}, {"pending"}, [], []),
    ({"growth": {"nodes": 1}}, {"growth": None}, set(), set(), [], []),
]


@pytest.mark.parametrize("documented,printed,maps,optional,missing,undocumented", CASES)
def test_key_structure_comparison(documented, printed, maps, optional, missing, undocumented):
    ex = Example.__new__(Example)
    ex.maps, ex.optional = maps, optional
    assert differences(documented, printed, ex) == (missing, undocumented)
