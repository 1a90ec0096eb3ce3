"""Reading manifests: files, directories, stdin, multi-document YAML, JSON, lists, field lines."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from podnet.errors import ManifestError
from podnet.model.cluster import cluster_from_text, load_cluster
from podnet.model.documents import parse_text, read_documents


def ns(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def ns_json(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: l1
- apiVersion: v1
  kind: Namespace
  metadata:
    name: l2
"""


@dataclass
class ReadCase:
    id: str
    files: dict[str, str | bytes]  # relative path -> content
    args: list[str]  # relative paths, or "-" for stdin
    want: list[tuple[str, int, str]]  # (file relative to tmp, document index, metadata.name)
    stdin: str = ""


READ_CASES = [
    ReadCase(
        "multi-document YAML, empty documents and comments skipped",
        {"a.yaml": "# head\n" + ns("a0") + "---\n---\n# only a comment\n---\n" + ns("a1")},
        ["a.yaml"],
        [("a.yaml", 0, "a0"), ("a.yaml", 1, "a1")],
    ),
    ReadCase(
        "a document separator at the start and '...' end markers",
        {"a.yml": "---\n" + ns("s0") + "...\n---\n" + ns("s1") + "...\n"},
        ["a.yml"],
        [("a.yml", 0, "s0"), ("a.yml", 1, "s1")],
    ),
    ReadCase(
        "JSON file",
        {"one.json": json.dumps(ns_json("j"), indent=2)},
        ["one.json"],
        [("one.json", 0, "j")],
    ),
    ReadCase(
        "JSON indented with tabs",
        {"tabs.json": json.dumps(ns_json("t"), indent="\t")},
        ["tabs.json"],
        [("tabs.json", 0, "t")],
    ),
    ReadCase(
        "JSON kind: List as kubectl get -o json prints it",
        {
            "dump.json": json.dumps(
                {"apiVersion": "v1", "kind": "List", "items": [ns_json("x"), ns_json("y")]}
            )
        },
        ["dump.json"],
        [("dump.json", 0, "x"), ("dump.json", 1, "y")],
    ),
    ReadCase(
        "kind: List flattened, documents after it keep counting",
        {"l.yaml": LIST + "---\n" + ns("after")},
        ["l.yaml"],
        [("l.yaml", 0, "l1"), ("l.yaml", 1, "l2"), ("l.yaml", 2, "after")],
    ),
    ReadCase(
        "typed list (NamespaceList) flattened like List",
        {"l.yaml": LIST.replace("kind: List", "kind: NamespaceList")},
        ["l.yaml"],
        [("l.yaml", 0, "l1"), ("l.yaml", 1, "l2")],
    ),
    ReadCase(
        "empty List",
        {"l.yaml": "apiVersion: v1\nkind: List\nitems: []\n"},
        ["l.yaml"],
        [],
    ),
    ReadCase(
        "directory recursively: only .yaml, .yml and .json, sorted by path",
        {
            "d/b.yaml": ns("b"),
            "d/a.yml": ns("a"),
            "d/sub/deeper/c.json": json.dumps(ns_json("c")),
            "d/sub/UPPER.YAML": ns("upper"),
            "d/README.md": "# not a manifest: " + ns("readme"),
            "d/notes.txt": ns("txt"),
            "d/kustomization.yaml.bak": ns("bak"),
        },
        ["d"],
        [
            ("d/a.yml", 0, "a"),
            ("d/b.yaml", 0, "b"),
            ("d/sub/UPPER.YAML", 0, "upper"),
            ("d/sub/deeper/c.json", 0, "c"),
        ],
    ),
    ReadCase(
        "an empty directory gives nothing",
        {"e/ignored.txt": "x"},
        ["e"],
        [],
    ),
    ReadCase(
        "stdin '-' among files, in argument order",
        {"f.yaml": ns("file")},
        ["f.yaml", "-"],
        [("f.yaml", 0, "file"), ("<stdin>", 0, "in0"), ("<stdin>", 1, "in1")],
        stdin=ns("in0") + "---\n" + ns("in1"),
    ),
    ReadCase(
        "stdin JSON",
        {},
        ["-"],
        [("<stdin>", 0, "sj")],
        stdin=json.dumps(ns_json("sj")),
    ),
]


def _write(tmp: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _arg(tmp: Path, a: str) -> str:
    return a if a == "-" else str(tmp / a)


def _rel(tmp: Path, file: str) -> str:
    return file if file.startswith("<") else str(Path(file).relative_to(tmp))


@pytest.mark.parametrize("case", READ_CASES, ids=lambda c: c.id)
def test_read(case: ReadCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, case.files)
    monkeypatch.setattr(sys, "stdin", io.StringIO(case.stdin))
    docs = read_documents([_arg(tmp_path, a) for a in case.args])
    got = [(_rel(tmp_path, d.file), d.index, d.data["metadata"]["name"]) for d in docs]
    assert got == case.want


def test_directory_and_stdin_load_the_same_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = Path(__file__).resolve().parents[1] / "examples" / "shop"
    from_dir = load_cluster([str(shop)])
    text = "\n---\n".join(p.read_text() for p in sorted(shop.glob("*.yaml")))
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    from_stdin = load_cluster(["-"])
    assert [(p.key, p.ips) for p in from_stdin.pods] == [(p.key, p.ips) for p in from_dir.pods]


# lines of fields ---------------------------------------------------------------------------------

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: x
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - podSelector: {}
    ports:
    - port: 80
      endPort: 70
"""

LINE_CASES = [
    ("document start", POLICY, (), 1),
    ("metadata.name", POLICY, ("metadata", "name"), 4),
    ("flow mapping key", POLICY, ("spec", "podSelector", "matchLabels", "app"), 8),
    ("list item", POLICY, ("spec", "ingress", 0), 10),
    ("nested list item", POLICY, ("spec", "ingress", 0, "from", 0, "podSelector"), 11),
    ("deep field", POLICY, ("spec", "ingress", 0, "ports", 0, "endPort"), 14),
    ("unknown path: deepest known prefix", POLICY, ("spec", "ingress", 0, "nope", 3), 10),
    ("List item fields keep their file line", LIST, ("metadata", "name"), 7),
]


@pytest.mark.parametrize(
    ("text", "path", "line"), [c[1:] for c in LINE_CASES], ids=[c[0] for c in LINE_CASES]
)
def test_field_lines(text: str, path: tuple, line: int) -> None:
    docs = parse_text("f.yaml", text)
    assert docs[0].line(path) == line


def test_second_list_item_lines() -> None:
    docs = parse_text("f.yaml", LIST)
    assert [d.line(("metadata", "name")) for d in docs] == [7, 11]


# errors ------------------------------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True)
)


@dataclass
class ErrorCase:
    id: str
    files: dict[str, str | bytes]
    args: list[str]
    want: list[tuple[str, int | None, str]]  # (file, line, text in str(problem)), in order
    obj: list[str] = field(default_factory=list)  # expected Problem.obj, when given


ERROR_CASES = [
    ErrorCase(
        "broken YAML: one problem with the line",
        {"b.yaml": ns("ok") + "---\nkind: Pod\nmetadata:\n  name: [unclosed\n  x: y\n"},
        ["b.yaml"],
        [("b.yaml", 9, "invalid YAML")],
    ),
    ErrorCase(
        "bad indentation",
        {"b.yaml": "kind: Pod\nmetadata:\n  name: a\n    labels: {}\n"},
        ["b.yaml"],
        [("b.yaml", 4, "invalid YAML")],
    ),
    ErrorCase(
        "broken JSON",
        {"b.json": '{"kind": "Namespace",\n "metadata": {"name": "x"\n'},
        ["b.json"],
        [("b.json", 3, "invalid YAML")],
    ),
    ErrorCase(
        "missing file",
        {},
        ["nope.yaml"],
        [("nope.yaml", None, "no such file or directory")],
    ),
    ErrorCase(
        "every missing file at once",
        {"ok.yaml": ns("ok")},
        ["gone1.yaml", "ok.yaml", "gone2.yaml"],
        [("gone1.yaml", None, "no such file"), ("gone2.yaml", None, "no such file")],
    ),
    ErrorCase(
        "not UTF-8",
        {"bin.yaml": b"\xff\xfe\x00binary"},
        ["bin.yaml"],
        [("bin.yaml", None, "cannot read")],
    ),
    ErrorCase(
        "broken files each reported",
        {"a.yaml": "a: [\n", "b.yaml": "b: {\n"},
        ["a.yaml", "b.yaml"],
        [("a.yaml", 2, "invalid YAML"), ("b.yaml", 2, "invalid YAML")],
    ),
    ErrorCase(
        "values the YAML constructor rejects, each document reported",
        {
            "d.yaml": ns("x")
            + "extra: !!timestamp 2024-02-30\n---\n"
            + ns("ok")
            + "---\na: !!timestamp 2023-13-01\n"
        },
        ["d.yaml"],
        [("d.yaml", 1, "day is out of range"), ("d.yaml", 12, "month must be in 1..12")],
    ),
    ErrorCase(
        "recursive alias",
        {"r.yaml": ns("x") + "extra: &a\n  - *a\n"},
        ["r.yaml"],
        [("r.yaml", 1, "an alias refers to a node that contains it")],
    ),
    ErrorCase(
        "aliases that expand beyond reason",
        {"bomb.yaml": BOMB},
        ["bomb.yaml"],
        [("bomb.yaml", 1, "aliases expand the document")],
    ),
    ErrorCase(
        "nesting deeper than any object",
        {"deep.yaml": "a: " + "[" * 600 + "]" * 600 + "\n"},
        ["deep.yaml"],
        [("deep.yaml", 1, "nested more than 512 levels")],
    ),
    ErrorCase(
        "a document that is a list, not an object",
        {"l.yaml": "- a\n- b\n"},
        ["l.yaml"],
        [("l.yaml", 1, "must be an object, not a list")],
    ),
    ErrorCase(
        "a document that is a scalar",
        {"s.yaml": ns("ok") + "---\njust text\n"},
        ["s.yaml"],
        [("s.yaml", 6, "must be an object, not a string")],
    ),
    ErrorCase(
        "List items that are not a list",
        {"l.yaml": "apiVersion: v1\nkind: List\nitems: {a: b}\n"},
        ["l.yaml"],
        [("l.yaml", 3, "items: must be a list, not an object")],
    ),
    ErrorCase(
        "the error for a bad field names the line of that field, in a List item",
        {"p.yaml": "apiVersion: v1\nkind: List\nitems:\n- " + POLICY.replace("\n", "\n  ")},
        ["p.yaml"],
        [
            (
                "p.yaml",
                17,
                "spec.ingress[0].ports[0].endPort: Invalid value: 70: must be >= port (80)",
            )
        ],
        ["NetworkPolicy x/web"],
    ),
    ErrorCase(
        "a key twice in one mapping, as kubectl refuses it",
        {"d.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: b\n"},
        ["d.yaml"],
        [("d.yaml", 5, 'key "name" already set in map metadata (first at line 4)')],
    ),
    ErrorCase(
        "two objects run together without ---: each key named, with the fix",
        {"d.yaml": ns("a") + ns("b")},
        ["d.yaml"],
        [
            ("d.yaml", 5, 'key "apiVersion" already set in map (first at line 1); separate'),
            ("d.yaml", 6, 'key "kind" already set in map (first at line 2); separate objects'),
            ("d.yaml", 7, 'key "metadata" already set in map (first at line 3); separate'),
        ],
    ),
    ErrorCase(
        "an unrendered Helm template is named as such",
        {"t.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n"},
        ["t.yaml"],
        [("t.yaml", 4, "an unrendered Helm template? render it first: helm template")],
    ),
    ErrorCase(
        "kind and apiVersion required",
        {"k.yaml": "metadata: {name: x}\n"},
        ["k.yaml"],
        [("k.yaml", 1, "kind: Required value"), ("k.yaml", 1, "apiVersion: Required value")],
    ),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
def test_errors(case: ErrorCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, case.files)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError) as err:
        load_cluster(case.args)
    got = err.value.problems
    assert len(got) == len(case.want), [str(p) for p in got]
    for p, (file, line, text) in zip(got, case.want, strict=True):
        assert (p.file, p.line) == (file, line), str(p)
        assert text in str(p)
        assert str(p).startswith(file if line is None else f"{file}:{line}")
    if case.obj:
        assert [p.obj for p in got] == case.obj


def test_error_format() -> None:
    """file:line: Kind ns/name: field.path: message, the format every tool greps."""
    with pytest.raises(ManifestError) as err:
        cluster_from_text(POLICY, "policies.yaml")
    assert str(err.value) == (
        "policies.yaml:14: NetworkPolicy x/web: spec.ingress[0].ports[0].endPort:"
        " Invalid value: 70: must be >= port (80)"
    )


@pytest.mark.parametrize(
    ("kinds", "skipped"),
    [
        (["ConfigMap", "Secret", "ConfigMap"], {"ConfigMap": 2, "Secret": 1}),
        (["ServiceAccount"], {"ServiceAccount": 1}),
        ([], {}),
    ],
)
def test_other_kinds_skipped(kinds: list[str], skipped: dict[str, int]) -> None:
    docs = [ns("x")] + [
        f"apiVersion: v1\nkind: {k}\nmetadata: {{name: o{i}}}\ndata: {{}}\n"
        for i, k in enumerate(kinds)
    ]
    cluster = cluster_from_text("---\n".join(docs))
    assert dict(cluster.skipped) == skipped


def test_known_kind_of_another_api_group_is_skipped() -> None:
    capi = "apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata: {name: prod}\n"
    cluster = cluster_from_text(capi)
    assert dict(cluster.skipped) == {"Cluster (cluster.x-k8s.io/v1beta1)": 1}
    assert [n.name for n in cluster.nodes] == ["node-1", "node-2"]


# kubectl reads YAML with go-yaml v2: its YAML 1.1 plain scalars, and JSON's string keys.
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("=", "="),  # PyYAML's `value` tag (kube-prometheus' CRDs)
        ("[=, ==]", ["=", "=="]),
        ("2024-01-01", "2024-01-01"),  # a date stays a string
        ("2024-02-30", "2024-02-30"),
        ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
        ("1:20", "1:20"),  # no base-60 numbers
        ("12:30:00", "12:30:00"),
        ("[yes, Yes, YES, on, On, ON, true, True, TRUE]", [True] * 9),
        ("[no, No, NO, off, Off, OFF, false, False, FALSE]", [False] * 9),
        ("[yEs, oN, tRUE, y, n, Y, N]", ["yEs", "oN", "tRUE", "y", "n", "Y", "N"]),
        ("[~, null, Null, NULL, '']", [None, None, None, None, ""]),
        ("[0, 7, -7, +7, 1_000, 0x1F, 0X1f, 0o17, 017, 0b101, -0b101, 0_7]", None),
        ("[08, 1.5, .5, 1e3, -1.5E-2, 1_0.5, .inf, -.Inf, +.INF]", None),
        ("['=', '2024-01-01', 'yes', '017', \"0x1F\"]", ["=", "2024-01-01", "yes", "017", "0x1F"]),
        (
            "[a=b, =a, 0x, 0o8, 1.2.3, 1e, +, -, .]",
            ["a=b", "=a", "0x", "0o8", "1.2.3", "1e"] + ["+", "-", "."],
        ),
        ("{on: a, off: b, 1: c, 0x10: d}", {"true": "a", "false": "b", "1": "c", "16": "d"}),
        ("{<<: {a: 1}, b: 2}", {"a": 1, "b": 2}),
    ],
)
def test_yaml_scalars_as_kubectl_reads_them(text: str, value: object) -> None:
    got = parse_text("q.yaml", f"v: {text}\n")[0].data["v"]
    if value is None:  # numbers: compare with their expected types
        value = {
            "[0, 7, -7, +7, 1_000, 0x1F, 0X1f, 0o17, 017, 0b101, -0b101, 0_7]": [
                0,
                7,
                -7,
                7,
                1000,
                31,
                31,
                15,
                15,
                5,
                -5,
                7,
            ],
            "[08, 1.5, .5, 1e3, -1.5E-2, 1_0.5, .inf, -.Inf, +.INF]": [
                8.0,
                1.5,
                0.5,
                1000.0,
                -0.015,
                10.5,
                float("inf"),
                float("-inf"),
                float("inf"),
            ],
        }[text]
        assert [type(x) for x in got] == [type(x) for x in value]
    assert got == value


def test_kube_prometheus_bare_equals_item_loads() -> None:
    """The enum of `matchType` in kube-prometheus' AlertmanagerConfig CRD lists a bare `=`."""
    crd = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: alertmanagerconfigs.monitoring.coreos.com
spec:
  versions:
  - schema:
      openAPIV3Schema:
        properties:
          matchType:
            enum:
            - '!='
            - =
            - =~
            - '!~'
            type: string
"""
    doc = parse_text("crd.yaml", crd)[0]
    enum = doc.data["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    assert enum["matchType"]["enum"] == ["!=", "=", "=~", "!~"]
    assert cluster_from_text(crd, "crd.yaml").pods is not None


def test_boolean_and_integer_keys_record_their_lines_as_strings() -> None:
    doc = parse_text("k.yaml", "a: 1\nlabels:\n  on: x\n  1: y\n")[0]
    assert doc.line(("labels", "true")) == 3 and doc.line(("labels", "1")) == 4


def test_merge_keys_may_be_set_again_as_kubectl_allows() -> None:
    """A key a merge (`<<`) brings in may be set again in the mapping: no repeated key."""
    text = ns("m") + "base: &b {a: 1, c: 3}\nx:\n  <<: *b\n  a: 2\n"
    doc = parse_text("m.yaml", text)[0]
    assert doc.data["x"] == {"a": 2, "c": 3}
    assert doc.line(("x", "a")) == 8 and doc.line(("x", "c")) == 5


def test_a_key_repeated_beside_a_merge_is_still_an_error() -> None:
    text = ns("m") + "base: &b {a: 1}\nx:\n  <<: *b\n  c: 2\n  c: 3\n"
    with pytest.raises(ManifestError) as err:
        parse_text("m.yaml", text)
    assert [(p.line, 'key "c" already set' in p.message) for p in err.value.problems] == [(9, True)]


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf" + ns("bom").replace("\n", "\r\n").encode(),
        ns("bom").encode("utf-16"),  # the platform's order, with its byte-order mark
        b"\xff\xfe" + ns("bom").encode("utf-16-le"),
        b"\xfe\xff" + ns("bom").encode("utf-16-be"),
    ],
    ids=["UTF-8 BOM, CRLF", "UTF-16", "UTF-16LE BOM", "UTF-16BE BOM"],
)
def test_byte_order_marks_as_kubectl_reads_them(
    raw: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubectl decodes a file with a byte-order mark as UTF-8 or UTF-16 (Windows editors and
    PowerShell's `>` write them); so does podnet, from a file and from stdin."""
    (tmp_path / "w.yaml").write_bytes(raw)
    assert [d.data["metadata"]["name"] for d in read_documents([str(tmp_path / "w.yaml")])] == [
        "bom"
    ]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    assert [d.data["metadata"]["name"] for d in read_documents(["-"])] == ["bom"]
