"""The nftables builder: each operation as the `nft -f` command knftables writes for it, and a
transaction of adds as one `table` definition."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from podnet.nftables import Chain, Element, Map, Rule, Set, Table, Transaction

CASES = [
    ("add", Table(), "add table ip t"),
    (
        "add",
        Table(comment="rules", flags=("dormant",)),
        'add table ip t { comment "rules" ; flags dormant ; }',
    ),
    ("delete", Table(comment="ignored"), "delete table ip t"),
    ("flush", Table(), "flush table ip t"),
    ("add", Chain("c"), "add chain ip t c"),
    ("add", Chain("c", comment="why"), 'add chain ip t c { comment "why" ; }'),
    (
        "add",
        Chain("in", "filter", "input", 0, "drop"),
        "add chain ip t in { type filter hook input priority 0 ; policy drop ; }",
    ),
    (
        "create",
        Chain("pre", "nat", "prerouting", "dstnat", comment="x"),
        'create chain ip t pre { type nat hook prerouting priority dstnat ; comment "x" ; }',
    ),
    ("flush", Chain("c", "filter", "input", 0), "flush chain ip t c"),
    ("delete", Chain("c"), "delete chain ip t c"),
    ("add", Rule("c", "ip saddr 10.0.0.1 drop"), "add rule ip t c ip saddr 10.0.0.1 drop"),
    ("add", Rule("c", "drop", "no"), 'add rule ip t c drop comment "no"'),
    ("add", Rule("c", "drop", index=2), "add rule ip t c index 2 drop"),
    ("insert", Rule("c", "accept"), "insert rule ip t c accept"),
    ("insert", Rule("c", "accept", handle=7), "insert rule ip t c handle 7 accept"),
    ("replace", Rule("c", "accept", handle=7), "replace rule ip t c handle 7 accept"),
    ("delete", Rule("c", "", handle=7), "delete rule ip t c handle 7"),
    ("add", Set("s", "ipv4_addr"), "add set ip t s { type ipv4_addr ; }"),
    (
        "add",
        Set("a", "ipv4_addr", flags=("dynamic", "timeout"), timeout=10800, comment="c"),
        'add set ip t a { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; comment "c" ; }',
    ),
    ("add", Set("s", typeof="ip saddr"), "add set ip t s { typeof ip saddr ; }"),
    ("flush", Set("s", "ipv4_addr"), "flush set ip t s"),
    (
        "add",
        Map("m", "ipv4_addr : verdict", comment="c"),
        'add map ip t m { type ipv4_addr : verdict ; comment "c" ; }',
    ),
    ("delete", Map("m", "ipv4_addr : verdict"), "delete map ip t m"),
    ("add", Element("s", "10.0.0.1"), "add element ip t s { 10.0.0.1 }"),
    (
        "add",
        Element("m", "10.0.0.1 . tcp . 80", "goto svc", "ns/name"),
        'add element ip t m { 10.0.0.1 . tcp . 80 comment "ns/name" : goto svc }',
    ),
    ("delete", Element("m", "10.0.0.1", "goto svc"), "delete element ip t m { 10.0.0.1 }"),
]


@pytest.mark.parametrize(("verb", "obj", "command"), CASES)
def test_commands(verb: str, obj: object, command: str) -> None:
    tx = Transaction("ip", "t")
    getattr(tx, verb)(obj)
    assert str(tx) == command + "\n"


def test_elements_of_a_run_are_one_command_per_set() -> None:
    tx = Transaction("ip6", "t")
    tx.add(Element("a", "::1"))
    tx.add(Element("b", "::2", "drop"))
    tx.add(Element("a", "::3"))
    tx.add(Rule("c", "accept"))
    tx.add(Element("a", "::4"))
    tx.delete(Element("a", "::1"))
    assert str(tx).splitlines() == [
        "add element ip6 t a { ::1, ::3 }",
        "add element ip6 t b { ::2 : drop }",
        "add rule ip6 t c accept",
        "add element ip6 t a { ::4 }",
        "delete element ip6 t a { ::1 }",
    ]


@pytest.mark.parametrize(
    ("verb", "obj", "message"),
    [
        ("insert", Chain("c"), "no insert of chains"),
        ("replace", Rule("c", "accept"), "needs its handle"),
        ("delete", Rule("c", ""), "needs its handle"),
        ("flush", Element("s", "1"), "no flush of elements"),
    ],
)
def test_operations_nft_does_not_have(verb: str, obj: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        getattr(Transaction("ip", "t"), verb)(obj)


def definition() -> Transaction:
    tx = Transaction("inet", "t")
    tx.add(Table(comment="owner"))
    tx.add(Map("m", "ipv4_addr : verdict"))
    tx.add(Set("s", "ipv4_addr", flags=("interval",)))
    tx.add(Chain("forward", "filter", "forward", "filter", "accept"))
    tx.add(Chain("pod"))
    tx.add(Rule("forward", "ip saddr vmap @m"))
    tx.add(Element("m", "10.0.0.1", "jump pod"))
    tx.add(Rule("pod", "drop", "isolated"))
    tx.add(Element("m", "10.0.0.2", "jump pod"))
    return tx


def test_definition() -> None:
    assert definition().definition() == (
        "table inet t {\n"
        '\tcomment "owner"\n'
        "\tmap m {\n"
        "\t\ttype ipv4_addr : verdict\n"
        "\t\telements = { 10.0.0.1 : jump pod, 10.0.0.2 : jump pod }\n"
        "\t}\n"
        "\tset s {\n"
        "\t\ttype ipv4_addr\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter; policy accept;\n"
        "\t\tip saddr vmap @m\n"
        "\t}\n"
        "\tchain pod {\n"
        '\t\tdrop comment "isolated"\n'
        "\t}\n"
        "}\n"
    )


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (Rule("nowhere", "accept"), "undeclared nowhere"),
        (Element("nothing", "10.0.0.1"), "undeclared nothing"),
        (Rule("forward", "accept", index=0), "appends rules"),
    ],
)
def test_what_a_definition_cannot_say(obj: object, message: str) -> None:
    tx = definition()
    tx.add(obj)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        tx.definition()
    tx = Transaction("ip", "t")
    tx.delete(Table())
    with pytest.raises(ValueError, match="only adds"):
        tx.definition()


@pytest.mark.skipif(
    (shutil.which("nft") is None or os.geteuid() != 0) and os.environ.get("CI") != "true",
    reason="needs nft and root (nft -c)",
)
@pytest.mark.parametrize("render", [str, Transaction.definition])
def test_nft_reads_both_forms(render) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run(
        ["nft", "-c", "-f", "-"], input=render(definition()), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
