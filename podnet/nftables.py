"""nftables objects and transactions as `nft -f` text, in the manner of kubernetes-sigs/knftables.

A `Transaction` works on one table (a family and a name, as a knftables Interface does): it
collects operations (`add`, `create`, `insert`, `replace`, `flush`, `delete`) on typed objects
(`Table`, `Chain`, `Rule`, `Set`, `Map`, `Element`) and renders them as `nft -f` commands, one a
line, as knftables writes them (`str(tx)`). A transaction of `add`s only also renders as one
`table` definition (`tx.definition()`), the shape `nft list ruleset` prints. Both are the same
ruleset to nft.

Rules are nft syntax as text: the builder types the objects, not the expressions in them.

Pure and standard library only: the CNI plugin imports it at every start, so no dataclasses or
typing at run time. The objects are named tuples because emitters build hundreds of thousands of
them for a large cluster (kube-proxy's rules), and a tuple is the cheapest immutable value.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # importing typing costs milliseconds at every CNI plugin start
if TYPE_CHECKING:
    from collections.abc import Callable


class Table(namedtuple("Table", "comment flags", defaults=(None, ()))):
    """The transaction's table. comment: str | None; flags: tuple[str, ...] ("dormant")."""

    __slots__ = ()


class Chain(
    namedtuple(
        "Chain", "name type hook priority policy comment", defaults=(None, None, None, None, None)
    )
):
    """A regular chain, or a base chain when `hook` is given (then `type` and `priority` too).

    name: str; type: "filter" | "nat" | "route"; hook: "prerouting" | "input" | "forward" |
    "output" | "postrouting"; priority: int or a name ("filter", "dstnat", "srcnat", ...);
    policy: "accept" | "drop" | None; comment: str | None.
    """

    __slots__ = ()


class Rule(namedtuple("Rule", "chain rule comment index handle", defaults=(None, None, None))):
    """A rule of `chain` in nft syntax, without its comment.

    chain: str; rule: str; comment: str | None; index: int | None (add after / insert before
    the rule at that position); handle: int | None (likewise by handle; which rule `replace`
    and `delete` mean).
    """

    __slots__ = ()


class Set(
    namedtuple(
        "Set", "name type typeof flags timeout comment", defaults=(None, None, (), None, None)
    )
):
    """A named set. name: str; type: str ("ipv4_addr") or typeof: str ("ip saddr"), one of
    the two; flags: tuple[str, ...] ("interval", "dynamic", "timeout"); timeout: int | None
    (seconds); comment: str | None."""

    __slots__ = ()


class Map(
    namedtuple(
        "Map", "name type typeof flags timeout comment", defaults=(None, None, (), None, None)
    )
):
    """A named map: as a `Set`, with `type` "key : value" ("ipv4_addr : verdict")."""

    __slots__ = ()


class Element(namedtuple("Element", "set key value comment", defaults=(None, None))):
    """An element of the set or map named `set`. key: str; value: str | None (maps);
    comment: str | None."""

    __slots__ = ()


if TYPE_CHECKING:
    Object = Table | Chain | Rule | Set | Map | Element


def _quote(comment: str) -> str:
    return f'"{comment}"'


def _table(family: str, table: str, verb: str, t: Table) -> str:
    head = f"{verb} table {family} {table}"
    if verb not in ("add", "create") or (t.comment is None and not t.flags):
        return head
    spec = "" if t.comment is None else f" comment {_quote(t.comment)} ;"
    if t.flags:
        spec += f" flags {','.join(t.flags)} ;"
    return f"{head} {{{spec} }}"


def _base_chain(c: Chain, sep: str) -> str:
    """`type T hook H priority P` and the policy, `sep` after each (" ;" or ";")."""
    text = f"type {c.type} hook {c.hook} priority {c.priority}{sep}"
    return text if c.policy is None else f"{text} policy {c.policy}{sep}"


def _chain(family: str, table: str, verb: str, c: Chain) -> str:
    head = f"{verb} chain {family} {table} {c.name}"
    if verb not in ("add", "create") or (c.hook is None and c.comment is None):
        return head
    spec = "" if c.hook is None else f" {_base_chain(c, ' ;')}"
    if c.comment is not None:
        spec += f" comment {_quote(c.comment)} ;"
    return f"{head} {{{spec} }}"


def _rule(family: str, table: str, verb: str, r: Rule) -> str:
    chain, rule, comment, index, handle = r
    if index is not None:
        chain += f" index {index}"
    elif handle is not None:
        chain += f" handle {handle}"
    if verb == "delete":
        return f"{verb} rule {family} {table} {chain}"
    if comment is None:
        return f"{verb} rule {family} {table} {chain} {rule}"
    return f"{verb} rule {family} {table} {chain} {rule} comment {_quote(comment)}"


def _set_spec(s: Set | Map) -> list[str]:
    """The properties of a set or map, in the order nft prints them."""
    spec = [f"type {s.type}" if s.type is not None else f"typeof {s.typeof}"]
    if s.flags:
        spec.append(f"flags {','.join(s.flags)}")
    if s.timeout is not None:
        spec.append(f"timeout {s.timeout}s")
    if s.comment is not None:
        spec.append(f"comment {_quote(s.comment)}")
    return spec


def _set(family: str, table: str, verb: str, s: Set | Map) -> str:
    head = f"{verb} {'set' if type(s) is Set else 'map'} {family} {table} {s.name}"
    if verb not in ("add", "create"):
        return head
    return f"{head} {{ {' ; '.join(_set_spec(s))} ; }}"


def _item(e: Element, verb: str = "add") -> str:
    """An element as it stands inside `{ }`: key, comment, then the value of a map's element."""
    text = e.key if e.comment is None else f"{e.key} comment {_quote(e.comment)}"
    return text if e.value is None or verb == "delete" else f"{text} : {e.value}"


_RENDER: dict[type, Callable[[str, str, str, Object], str]] = {
    Table: _table,
    Chain: _chain,
    Rule: _rule,
    Set: _set,
    Map: _set,
}
# The fields after the first two of a rule without comment, index or handle, and of a regular
# chain without comment (the fast path of `Transaction.__str__`).
_PLAIN: dict[type, tuple | None] = {Rule: (None, None, None), Chain: (None,) * 4}
# Which verbs each object takes (as nft does); `insert` and `replace` are for rules only.
_VERBS = {
    Table: ("add", "create", "flush", "delete"),
    Chain: ("add", "create", "flush", "delete"),
    Rule: ("add", "insert", "replace", "delete"),
    Set: ("add", "create", "flush", "delete"),
    Map: ("add", "create", "flush", "delete"),
    Element: ("add", "create", "delete"),
}


class Transaction:
    """Operations on the table `family` `table` ("ip", "ip6", "inet", ...), in order."""

    __slots__ = ("family", "table", "_ops")

    def __init__(self, family: str, table: str) -> None:
        self.family = family
        self.table = table
        self._ops: list[tuple[str, Object]] = []

    def _operation(self, verb: str, obj: Object) -> None:
        if verb not in _VERBS[type(obj)]:
            raise ValueError(f"nft has no {verb} of {type(obj).__name__.lower()}s")
        if type(obj) is Rule and verb in ("replace", "delete") and obj.handle is None:
            raise ValueError(f"{verb} of a rule needs its handle")
        self._ops.append((verb, obj))

    def add(self, obj: Object) -> None:
        """Create `obj` unless it exists (a rule: append it, or put it after index/handle)."""
        # The hot path of large rulesets: one tuple append, checked at rendering.
        self._ops.append(("add", obj))

    def create(self, obj: Object) -> None:
        """Create `obj`, which must not exist."""
        self._operation("create", obj)

    def insert(self, rule: Rule) -> None:
        """Put `rule` first in its chain, or before the rule at its index or handle."""
        self._operation("insert", rule)

    def replace(self, rule: Rule) -> None:
        """Replace the rule with `rule`'s handle."""
        self._operation("replace", rule)

    def flush(self, obj: Table | Chain | Set | Map) -> None:
        """Empty a table, chain, set or map."""
        self._operation("flush", obj)

    def delete(self, obj: Object) -> None:
        """Delete `obj`, which must exist (a rule by its handle)."""
        self._operation("delete", obj)

    def __str__(self) -> str:
        """The operations as `nft -f` commands. A run of element operations with one verb gives
        one command per set, in the order the sets first appear in the run: nft parses that far
        faster than a line per element, and the elements of a run do not depend on each other."""
        family, table = self.family, self.table
        render = _RENDER
        # Most of a large ruleset is plain rules and regular chains added: written here directly.
        add_rule, add_chain = f"add rule {family} {table} ", f"add chain {family} {table} "
        lines: list[str] = []
        items: dict[str, list[str]] = {}  # the current run of element operations, by set
        run_verb = ""
        for verb, obj in self._ops:
            kind = type(obj)
            if kind is Element:
                if verb != run_verb:
                    _flush_elements(lines, family, table, run_verb, items)
                    run_verb = verb
                items.setdefault(obj.set, []).append(_item(obj, verb))
                continue
            if items:
                _flush_elements(lines, family, table, run_verb, items)
                run_verb = ""
            if verb == "add" and obj[2:] == _PLAIN.get(kind):
                lines.append(f"{add_rule}{obj[0]} {obj[1]}" if kind is Rule else add_chain + obj[0])
            else:
                lines.append(render[kind](family, table, verb, obj))
        _flush_elements(lines, family, table, run_verb, items)
        lines.append("")
        return "\n".join(lines)

    def definition(self) -> str:
        """The table as one `table` block: its sets, maps and chains in the order added, each
        with its elements or rules. Only for transactions that add and do nothing else."""
        table: Table = Table()
        declared: list[Set | Map | Chain] = []
        bodies: dict[tuple[type, str], list[str]] = {}
        for verb, obj in self._ops:
            kind = type(obj)
            if verb != "add":
                raise ValueError(f"a table definition only adds: {verb} {kind.__name__.lower()}")
            if kind is Table:
                table = obj
            elif kind is Rule or kind is Element:
                key = (Chain, obj.chain) if kind is Rule else (Set, obj.set)
                if key not in bodies:
                    raise ValueError(f"{kind.__name__.lower()} of undeclared {key[1]}: {obj}")
                if kind is Rule and (obj.index is not None or obj.handle is not None):
                    raise ValueError(f"a table definition appends rules: {obj}")
                bodies[key].append(_rule_text(obj) if kind is Rule else _item(obj))
            else:
                declared.append(obj)
                bodies[(Chain if kind is Chain else Set, obj.name)] = []
        out = [f"table {self.family} {self.table} {{\n"]
        if table.comment is not None:
            out.append(f"\tcomment {_quote(table.comment)}\n")
        if table.flags:
            out.append(f"\tflags {','.join(table.flags)}\n")
        for obj in declared:
            if type(obj) is Chain:
                head = [] if obj.hook is None else [_base_chain(obj, ";")]
                if obj.comment is not None:
                    head.append(f"comment {_quote(obj.comment)}")
                lines = head + bodies[(Chain, obj.name)]
                out.append(f"\tchain {obj.name} {{\n")
            else:
                lines = _set_spec(obj)
                elements = bodies[(Set, obj.name)]
                if elements:
                    lines.append(f"elements = {{ {', '.join(elements)} }}")
                out.append(f"\t{'set' if type(obj) is Set else 'map'} {obj.name} {{\n")
            out += [f"\t\t{line}\n" for line in lines]
            out.append("\t}\n")
        out.append("}\n")
        return "".join(out)


def delete_table(family: str, name: str) -> str:
    """A script that deletes the table whether or not it exists (adding it first makes the delete
    never fail)."""
    tx = Transaction(family, name)
    tx.add(Table())
    tx.delete(Table())
    return str(tx)


def replace_table(family: str, name: str, definition: str) -> str:
    """A script that replaces the table with `definition` in one transaction."""
    return delete_table(family, name) + definition


def _rule_text(r: Rule) -> str:
    return r.rule if r.comment is None else f"{r.rule} comment {_quote(r.comment)}"


def _flush_elements(
    lines: list[str], family: str, table: str, verb: str, items: dict[str, list[str]]
) -> None:
    for name, texts in items.items():
        lines.append(f"{verb} element {family} {table} {name} {{ {', '.join(texts)} }}")
    items.clear()
