"""The renderings of `podnet subnet ...`: a table (or a few) per command, or JSON that the next
command can read back (`podnet subnet info` one object per network, `vlsm` one object per block,
the others lists of networks as strings; the shapes are in docs/contracts.md).

The results are `ipam.subnet` values; the small dataclasses here only put side by side what one
command shows, and compute nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from podnet.ipam import subnet as sn
from podnet.report.console import printed as printed_at


@dataclass(frozen=True, slots=True)
class Infos:
    """`podnet subnet info`: each network described."""

    items: tuple[sn.SubnetInfo, ...]


@dataclass(frozen=True, slots=True)
class Splits:
    """`podnet subnet split`: each parent and its equal subnets."""

    parts: tuple[tuple[sn.Network, tuple[sn.Network, ...]], ...]
    asked: int | None = None  # the --count asked for, which a split rounds up to a power of 2


@dataclass(frozen=True, slots=True)
class FreeSpace:
    """`podnet subnet free`: the free blocks of a parent, and the first that fits."""

    parent: sn.Network
    blocks: tuple[sn.Network, ...]
    ignored: tuple[sn.Network, ...]  # used networks outside the parent
    fitted: sn.Network | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """`podnet subnet summarize`: the exact summary and the covering supernets."""

    count: int  # networks given
    exact: tuple[sn.Network, ...]
    covers: tuple[sn.Supernet, ...]
    supernets_in_json: bool = False  # --supernet: JSON lists the covers instead


@dataclass(frozen=True, slots=True)
class Overlaps:
    """`podnet subnet overlap`: every overlapping pair."""

    pairs: tuple[sn.Overlap, ...]


@dataclass(frozen=True, slots=True)
class Containment:
    """`podnet subnet contains`: whether each address or network lies inside `network`."""

    network: sn.Network
    verdicts: tuple[tuple[sn.Address | sn.Network, bool], ...]


@dataclass(frozen=True, slots=True)
class Ranges:
    """`podnet subnet range`: the CIDR blocks covering each address range."""

    blocks: tuple[tuple[sn.Address, sn.Address, tuple[sn.Network, ...]], ...]


def printed(draw: Callable[[Console], None]) -> str:
    """As wide as the terminal there; into a pipe or file, 160 columns (not a guessed 80)."""
    return printed_at(draw, 160, terminal_width=True, highlight=False, soft_wrap=False)


def dumped(data: object) -> str:
    return json.dumps(data, indent=2) + "\n"


def count(n: int) -> str:
    """A number of addresses, with its power of two when it is a large one."""
    if n >= 2**20 and n & (n - 1) == 0:
        return f"{n} (2^{n.bit_length() - 1})"
    return str(n)


def _opt(value: object | None) -> str:
    return "-" if value is None else str(value)


# info ------------------------------------------------------------------------------------------


def info_json(info: sn.SubnetInfo) -> dict[str, object]:
    net = info.network
    first, last = sn.usable_range(net)
    name, rfc = sn.scope(net)
    bcast = sn.broadcast(net)
    return {
        "address": str(info.address),
        "network": str(net),
        "prefixlen": net.prefixlen,
        "netmask": str(net.netmask),
        "netmask_hex": info.netmask_hex,
        "hostmask": str(net.hostmask),
        "broadcast": None if bcast is None else str(bcast),
        "first": str(first),
        "last": str(last),
        "addresses": net.num_addresses,
        "hosts": sn.usable_hosts(net),
        "class": sn.address_class(net.network_address),
        "scope": name,
        "scope_rfc": rfc,
        "reverse_zone": sn.reverse_zone(net),
        "binary": {
            "address": sn.binary(info.address, net.prefixlen),
            "netmask": sn.binary(net.netmask, net.prefixlen),
            "network": sn.binary(net.network_address, net.prefixlen),
        },
    }


def _info_table(info: sn.SubnetInfo) -> Table:
    data = info_json(info)
    net = info.network
    table = Table(title=str(data["network"]), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    mask = f"{data['netmask']} = /{net.prefixlen}"
    if data["netmask_hex"]:
        mask += f" = {data['netmask_hex']}"
    scope = str(data["scope"])
    if data["scope_rfc"]:
        scope += f" ({data['scope_rfc']})"
    binary = data["binary"]
    assert isinstance(binary, dict)
    rows = [
        ("address", data["address"]),
        ("network", data["network"]),
        ("netmask", mask),
        ("wildcard", data["hostmask"]),
        ("broadcast", _opt(data["broadcast"])),
        ("first host", data["first"]),
        ("last host", data["last"]),
        ("addresses", count(net.num_addresses)),
        ("usable hosts", count(sn.usable_hosts(net))),
        ("class", _opt(data["class"])),
        ("scope", scope),
        ("reverse zone", data["reverse_zone"]),
        ("address bits", binary["address"]),
        ("netmask bits", binary["netmask"]),
        ("network bits", binary["network"]),
    ]
    for field, value in rows:
        table.add_row(field, str(value))
    return table


def infos_json(infos: Infos) -> str:
    objs = [info_json(i) for i in infos.items]
    return dumped(objs[0] if len(objs) == 1 else objs)


def infos_table(infos: Infos) -> str:
    def draw(console: Console) -> None:
        for info in infos.items:
            console.print(_info_table(info))

    return printed(draw)


# split -----------------------------------------------------------------------------------------


def network_table(nets: tuple[sn.Network, ...], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("network", "first host", "last host", "broadcast", "hosts"):
        table.add_column(col, justify="right" if col == "hosts" else "left")
    for net in nets:
        first, last = sn.usable_range(net)
        table.add_row(
            str(net), str(first), str(last), _opt(sn.broadcast(net)), count(sn.usable_hosts(net))
        )
    return table


def splits_json(s: Splits) -> str:
    return dumped([str(n) for _, nets in s.parts for n in nets])


def splits_table(s: Splits) -> str:
    def draw(console: Console) -> None:
        for parent, nets in s.parts:
            title = f"{parent} in {len(nets)} × /{nets[0].prefixlen}"
            if s.asked is not None and s.asked != len(nets):
                title += f" ({s.asked} asked for)"
            console.print(network_table(nets, title))

    return printed(draw)


# vlsm ------------------------------------------------------------------------------------------


def vlsm_json(plan: sn.VlsmPlan) -> str:
    """The blocks in allocation order (largest first), as the table shows them; `index` is each
    request's position in --hosts, so the order the requests were given is kept."""
    return dumped([_allocation_json(a) for a in plan.allocations])


def _allocation_json(a: sn.Allocation) -> dict[str, object]:
    first, last = sn.usable_range(a.network)
    bcast = sn.broadcast(a.network)
    return {
        "index": a.index,
        "name": a.request.name or None,
        "wanted": a.request.hosts,
        "network": str(a.network),
        "prefixlen": a.network.prefixlen,
        "netmask": str(a.network.netmask),
        "first": str(first),
        "last": str(last),
        "broadcast": None if bcast is None else str(bcast),
        "usable": sn.usable_hosts(a.network),
        "waste": a.waste,
    }


def vlsm_table(plan: sn.VlsmPlan) -> str:
    parent = plan.parent
    table = Table(
        title=f"VLSM plan for {parent}, largest block first",
        title_justify="left",
        caption="#: the request's position in --hosts",
        caption_justify="left",
    )
    for col in (
        "#",
        "name",
        "wanted",
        "network",
        "netmask",
        "first host",
        "last host",
        "broadcast",
        "usable",
        "waste",
    ):
        table.add_column(
            col, justify="right" if col in ("#", "wanted", "usable", "waste") else "left"
        )
    for a in plan.allocations:
        first, last = sn.usable_range(a.network)
        table.add_row(
            str(a.index + 1),
            a.request.name or "-",
            str(a.request.hosts),
            str(a.network),
            str(a.network.netmask),
            str(first),
            str(last),
            _opt(sn.broadcast(a.network)),
            count(sn.usable_hosts(a.network)),
            str(a.waste),
        )

    def draw(console: Console) -> None:
        console.print(table)
        console.print(
            f"allocated {plan.used_addresses} of {parent.num_addresses} addresses; "
            f"{plan.waste} usable addresses more than asked for"
        )
        console.print("free: " + (", ".join(str(n) for n in plan.free) or "none"))

    return printed(draw)


def _sizes(title: str, nets: tuple[sn.Network, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("network")
    table.add_column("addresses", justify="right")
    for net in nets:
        table.add_row(str(net), count(net.num_addresses))
    return table


# free ------------------------------------------------------------------------------------------


def free_json(f: FreeSpace) -> str:
    return dumped([str(f.fitted)] if f.fitted is not None else [str(n) for n in f.blocks])


def free_table(f: FreeSpace) -> str:
    total = sum(n.num_addresses for n in f.blocks)
    table = _sizes(f"free in {f.parent}", f.blocks)

    def draw(console: Console) -> None:
        console.print(table)
        console.print(
            f"free {total} of {f.parent.num_addresses} addresses in {len(f.blocks)} blocks"
        )
        if f.ignored:
            console.print("ignored (outside the parent): " + ", ".join(str(n) for n in f.ignored))
        if f.fitted is not None:
            console.print(f"first free /{f.fitted.prefixlen}: {f.fitted}")

    return printed(draw)


# summarize -------------------------------------------------------------------------------------


def summary_json(s: Summary) -> str:
    if s.supernets_in_json:
        return dumped([str(c.network) for c in s.covers])
    return dumped([str(n) for n in s.exact])


def summary_table(s: Summary) -> str:
    table = _sizes(f"exact summary of {s.count} networks", s.exact)

    def draw(console: Console) -> None:
        console.print(table)
        for cover in s.covers:
            extra = ", ".join(str(n) for n in cover.extra) or "none"
            console.print(
                f"covering supernet {cover.network}: {cover.extra_addresses} addresses beyond"
                f" the inputs ({extra})"
            )

    return printed(draw)


# overlap ---------------------------------------------------------------------------------------


def overlaps_json(o: Overlaps) -> str:
    return dumped([[str(p.outer), str(p.inner)] for p in o.pairs])


def overlaps_table(o: Overlaps) -> str:
    def draw(console: Console) -> None:
        if not o.pairs:
            console.print("no overlaps")
            return
        table = Table(title=f"{len(o.pairs)} overlapping pairs", title_justify="left")
        for col in ("network", "relation", "network ", "shared addresses"):
            table.add_column(col, justify="right" if col == "shared addresses" else "left")
        for p in o.pairs:
            table.add_row(str(p.outer), p.relation, str(p.inner), count(p.inner.num_addresses))
        console.print(table)

    return printed(draw)


# contains --------------------------------------------------------------------------------------


def containment_json(c: Containment) -> str:
    return dumped([str(value) for value, inside in c.verdicts if inside])


def containment_table(c: Containment) -> str:
    table = Table(title=f"in {c.network}", title_justify="left")
    table.add_column("address")
    table.add_column("inside")
    for value, inside in c.verdicts:
        table.add_row(str(value), "yes" if inside else "no")
    return printed(lambda console: console.print(table))


# range -----------------------------------------------------------------------------------------


def ranges_json(r: Ranges) -> str:
    return dumped([str(n) for _, _, nets in r.blocks for n in nets])


def ranges_table(r: Ranges) -> str:
    def draw(console: Console) -> None:
        for first, last, nets in r.blocks:
            table = Table(title=f"{first} - {last}", title_justify="left")
            for col in ("network", "first", "last", "addresses"):
                table.add_column(col, justify="right" if col == "addresses" else "left")
            for n in nets:
                table.add_row(
                    str(n),
                    str(n.network_address),
                    str(n.broadcast_address),
                    count(n.num_addresses),
                )
            console.print(table)

    return printed(draw)


# The first format of each is the default.
RENDERERS: dict[type, dict[str, Callable]] = {
    Infos: {"table": infos_table, "json": infos_json},
    Splits: {"table": splits_table, "json": splits_json},
    sn.VlsmPlan: {"table": vlsm_table, "json": vlsm_json},
    FreeSpace: {"table": free_table, "json": free_json},
    Summary: {"table": summary_table, "json": summary_json},
    Overlaps: {"table": overlaps_table, "json": overlaps_json},
    Containment: {"table": containment_table, "json": containment_json},
    Ranges: {"table": ranges_table, "json": ranges_json},
}
