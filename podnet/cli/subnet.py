"""`podnet subnet ...` and `podnet ipam ...`."""

from __future__ import annotations

import json
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from podnet.cli import app
from podnet.errors import InvalidValue, UsageError
from podnet.ipam import plan as plan_mod
from podnet.ipam import subnet as sn

subnet_app = typer.Typer(help="Subnet calculator and address planning.", no_args_is_help=True)
app.add_typer(subnet_app, name="subnet")


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table or json.")]
FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file", "-f", help="Read more networks from FILE ('-' for stdin).", dir_okay=False
    ),
]


# ---------------------------------------------------------------------------------------------
# Input: arguments, files, stdin


def _tokens(text: str) -> list[str]:
    """Networks in free text (comma or white space separated, `#` comments) or a JSON list,
    so that one command's `-o json` can feed the next."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise UsageError(f"bad JSON input: {err}") from None
        return list(_flatten(data))
    out = []
    for line in text.splitlines():
        out.extend(t for t in re.split(r"[\s,]+", line.split("#", 1)[0]) if t)
    return out


def _flatten(data: object) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, list):
        return [t for item in data for t in _flatten(item)]
    raise UsageError(f"bad JSON input: expected strings or lists of strings, got {data!r}")


def _read_stdin() -> str:
    return sys.stdin.read()


def _read_file(path: Path | str) -> str:
    if str(path) == "-":
        return _read_stdin()
    try:
        return Path(path).read_text()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None


def _items(args: list[str] | None, file: Path | None, what: str = "networks") -> list[str]:
    """Items from the arguments ('-' reads stdin), then FILE; stdin when neither gives any and
    stdin is not a terminal."""
    out: list[str] = []
    for arg in args or []:
        out.extend(_tokens(_read_stdin()) if arg == "-" else _tokens(arg))
    if file is not None:
        out.extend(_tokens(_read_file(file)))
    if not args and file is None and not sys.stdin.isatty():
        out.extend(_tokens(_read_stdin()))
    if not out:
        raise UsageError(f"no {what} given: pass them as arguments, with --file, or on stdin")
    return out


def list_option(values: list[str] | None) -> list[str]:
    """A list option such as --used: comma-separated values, '-' for stdin, '@FILE'."""
    out: list[str] = []
    for value in values or []:
        if value == "-":
            out.extend(_tokens(_read_stdin()))
        elif value.startswith("@"):
            out.extend(_tokens(_read_file(value[1:])))
        else:
            out.extend(_tokens(value))
    return out


def _networks(tokens: list[str]) -> list[sn.Network]:
    return [sn.parse_network(t) for t in tokens]


def _one(tokens: list[str], what: str) -> str:
    if len(tokens) != 1:
        raise UsageError(f"expected one {what}, got {len(tokens)}: {' '.join(tokens)}")
    return tokens[0]


# ---------------------------------------------------------------------------------------------
# Output


def _console() -> Console:
    # Created per command so that output follows sys.stdout as it is when the command runs;
    # into a pipe or file, tables keep their full width instead of a guessed 80 columns.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, soft_wrap=False, width=width)


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2))


def count(n: int) -> str:
    """A number of addresses, with its power of two when it is a large one."""
    if n >= 2**20 and n & (n - 1) == 0:
        return f"{n} (2^{n.bit_length() - 1})"
    return str(n)


def _opt(value: object | None) -> str:
    return "-" if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# Commands


@subnet_app.command()
def info(
    networks: Annotated[
        list[str] | None,
        typer.Argument(
            help="ADDRESS/PREFIX, ADDRESS/MASK (dotted or 0x hex) or ADDRESS.",
            show_default=False,
        ),
    ] = None,
    file: FileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Describe each network: range, masks, usable hosts, class, scope, reverse zone."""
    infos = [sn.describe(sn.parse_interface(t)) for t in _items(networks, file)]
    if output is Output.json:
        objs = [i.to_json() for i in infos]
        _print_json(objs[0] if len(objs) == 1 else objs)
        return
    console = _console()
    for info_ in infos:
        data = info_.to_json()
        net = info_.network
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
        console.print(table)


def _network_table(nets: list[sn.Network], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("network", "first host", "last host", "broadcast", "hosts"):
        table.add_column(col, justify="right" if col == "hosts" else "left")
    for net in nets:
        first, last = sn.usable_range(net)
        table.add_row(
            str(net), str(first), str(last), _opt(sn.broadcast(net)), count(sn.usable_hosts(net))
        )
    return table


@subnet_app.command()
def split(
    networks: Annotated[
        list[str] | None, typer.Argument(help="Networks to split.", show_default=False)
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", "-p", help="Prefix length of the subnets (26 or /26).")
    ] = None,
    subnets: Annotated[
        int | None,
        typer.Option("--count", "-n", help="Split into at least this many equal subnets."),
    ] = None,
    file: FileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Split networks into equal subnets, by prefix length or by count."""
    if (prefix is None) == (subnets is None):
        raise UsageError("split needs exactly one of --prefix and --count")
    parents = _networks(_items(networks, file))
    result: list[tuple[sn.Network, list[sn.Network]]] = []
    for parent in parents:
        if prefix is not None:
            new_prefix = sn.parse_prefixlen(prefix, sn.family(parent))
        else:
            assert subnets is not None
            new_prefix = sn.prefix_for_count(parent, subnets)
        result.append((parent, sn.split(parent, new_prefix)))
    if output is Output.json:
        _print_json([str(n) for _, nets in result for n in nets])
        return
    console = _console()
    for parent, nets in result:
        title = f"{parent} in {len(nets)} × /{nets[0].prefixlen}"
        if subnets is not None and subnets != len(nets):
            title += f" ({subnets} asked for)"
        console.print(_network_table(nets, title))


@subnet_app.command()
def vlsm(
    network: Annotated[
        list[str] | None, typer.Argument(help="The network to plan in.", show_default=False)
    ] = None,
    hosts: Annotated[
        str, typer.Option("--hosts", help="Hosts each subnet needs: 120,60,28,2 or lan=120,dmz=60.")
    ] = "",
    point_to_point: Annotated[
        bool,
        typer.Option(
            "--point-to-point",
            help="Give 2-host links a /31 (/127) and 1 host a /32 (/128).",
        ),
    ] = False,
    file: FileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """A variable-length subnet plan: largest first, aligned, with the waste reported."""
    parent = sn.parse_network(_one(_items(network, file), "network"))
    plan = sn.vlsm(parent, sn.parse_requests(hosts), point_to_point=point_to_point)
    if output is Output.json:
        _print_json([str(a.network) for a in plan.in_request_order()])
        return
    table = Table(title=f"VLSM plan for {parent}", title_justify="left")
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
    console = _console()
    console.print(table)
    console.print(
        f"allocated {plan.used_addresses} of {parent.num_addresses} addresses; "
        f"{plan.waste} usable addresses more than asked for"
    )
    console.print("free: " + (", ".join(str(n) for n in plan.free) or "none"))


@subnet_app.command()
def free(
    parent: Annotated[
        list[str] | None, typer.Argument(help="The parent network.", show_default=False)
    ] = None,
    used: Annotated[
        list[str] | None,
        typer.Option(
            "--used",
            "-u",
            help="Networks in use: CIDR,CIDR... ('-' stdin, '@FILE'); repeatable.",
        ),
    ] = None,
    fit: Annotated[
        str | None,
        typer.Option(
            "--fit",
            help="Also find the first free block of this prefix length (26 or /26).",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="Read more used networks from FILE ('-' for stdin).",
            dir_okay=False,
        ),
    ] = None,
    output: OutputOpt = Output.table,
) -> None:
    """The free space of a network as maximal CIDR blocks, and the first block that fits."""
    parent_net = sn.parse_network(_one(_items(parent, None, "parent network"), "parent network"))
    used_tokens = list_option(used)
    if file is not None:
        used_tokens.extend(_tokens(_read_file(file)))
    used_nets = _networks(used_tokens)
    blocks = sn.free(parent_net, used_nets)
    fitted = None
    if fit is not None:
        fit_len = sn.parse_prefixlen(fit, sn.family(parent_net))
        fitted = sn.first_fit(blocks, fit_len)
        if fitted is None:
            raise UsageError(f"no free /{fit_len} in {parent_net}")
    if output is Output.json:
        _print_json([str(fitted)] if fitted is not None else [str(n) for n in blocks])
        return
    total = sum(n.num_addresses for n in blocks)
    table = Table(title=f"free in {parent_net}", title_justify="left")
    table.add_column("network")
    table.add_column("addresses", justify="right")
    for net in blocks:
        table.add_row(str(net), count(net.num_addresses))
    console = _console()
    console.print(table)
    console.print(f"free {total} of {parent_net.num_addresses} addresses in {len(blocks)} blocks")
    ignored = sn.outside(parent_net, used_nets)
    if ignored:
        console.print("ignored (outside the parent): " + ", ".join(str(n) for n in ignored))
    if fitted is not None:
        console.print(f"first free /{fitted.prefixlen}: {fitted}")


@subnet_app.command()
def summarize(
    networks: Annotated[
        list[str] | None, typer.Argument(help="Networks to summarize.", show_default=False)
    ] = None,
    supernet: Annotated[
        bool,
        typer.Option(
            "--supernet",
            help="In JSON, print the covering supernets instead of the summary.",
        ),
    ] = False,
    file: FileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """The exact summary of networks, and the smallest supernet covering them all."""
    nets = _networks(_items(networks, file))
    exact = sn.summarize(nets)
    covers = sn.supernets(nets)
    if output is Output.json:
        _print_json([str(s.network) for s in covers] if supernet else [str(n) for n in exact])
        return
    console = _console()
    table = Table(title=f"exact summary of {len(nets)} networks", title_justify="left")
    table.add_column("network")
    table.add_column("addresses", justify="right")
    for net in exact:
        table.add_row(str(net), count(net.num_addresses))
    console.print(table)
    for cover in covers:
        extra = ", ".join(str(n) for n in cover.extra) or "none"
        console.print(
            f"covering supernet {cover.network}: {cover.extra_addresses} addresses beyond the "
            f"inputs ({extra})"
        )


@subnet_app.command()
def overlap(
    networks: Annotated[
        list[str] | None, typer.Argument(help="Networks to compare.", show_default=False)
    ] = None,
    file: FileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Every pair of overlapping networks."""
    pairs = sn.overlaps(_networks(_items(networks, file)))
    if output is Output.json:
        _print_json([[str(p.outer), str(p.inner)] for p in pairs])
        return
    console = _console()
    if not pairs:
        console.print("no overlaps")
        return
    table = Table(title=f"{len(pairs)} overlapping pairs", title_justify="left")
    for col in ("network", "relation", "network ", "shared addresses"):
        table.add_column(col, justify="right" if col == "shared addresses" else "left")
    for p in pairs:
        table.add_row(str(p.outer), p.relation, str(p.inner), count(p.inner.num_addresses))
    console.print(table)


@subnet_app.command()
def contains(
    network: Annotated[str, typer.Argument(help="The network.")],
    items: Annotated[
        list[str] | None,
        typer.Argument(help="Addresses or networks to look for.", show_default=False),
    ] = None,
    file: FileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Whether addresses (or networks) lie inside a network; exit 1 when one does not."""
    net = sn.parse_network(network)
    parsed: list[tuple[str, sn.Address | sn.Network]] = []
    for token in _items(items, file, "addresses"):
        value = sn.parse_network(token) if "/" in token else sn.parse_address(token)
        parsed.append((token, value))
    verdicts = [(token, value, sn.contains(net, value)) for token, value in parsed]
    if output is Output.json:
        _print_json([str(value) for _, value, inside in verdicts if inside])
    else:
        table = Table(title=f"in {net}", title_justify="left")
        table.add_column("address")
        table.add_column("inside")
        for _, value, inside in verdicts:
            table.add_row(str(value), "yes" if inside else "no")
        _console().print(table)
    if not all(inside for _, _, inside in verdicts):
        raise typer.Exit(1)


@subnet_app.command("range")
def range_(
    ends: Annotated[
        list[str] | None,
        typer.Argument(
            help="FIRST LAST (or FIRST-LAST); several ranges may follow.",
            show_default=False,
        ),
    ] = None,
    file: FileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """The CIDR blocks covering exactly an address range."""
    tokens = [part for t in _items(ends, file, "addresses") for part in t.split("-") if part]
    if len(tokens) % 2:
        raise UsageError(f"a range needs a first and a last address: {' '.join(tokens)}")
    ranges = [
        (sn.parse_address(a), sn.parse_address(b))
        for a, b in zip(tokens[::2], tokens[1::2], strict=True)
    ]
    blocks = [(first, last, sn.address_range(first, last)) for first, last in ranges]
    if output is Output.json:
        _print_json([str(n) for _, _, nets in blocks for n in nets])
        return
    console = _console()
    for first, last, nets in blocks:
        table = Table(title=f"{first} - {last}", title_justify="left")
        for col in ("network", "first", "last", "addresses"):
            table.add_column(col, justify="right" if col == "addresses" else "left")
        for n in nets:
            table.add_row(
                str(n), str(n.network_address), str(n.broadcast_address), count(n.num_addresses)
            )
        console.print(table)


# ---------------------------------------------------------------------------------------------
# podnet ipam

ipam_app = typer.Typer(help="The cluster's address plan.", no_args_is_help=True)
app.add_typer(ipam_app, name="ipam")

_STATE_STYLE = {"ok": "green", "tight": "yellow", "full": "red", "broken": "red"}


@ipam_app.command()
def check(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Manifest files or directories, with the ClusterNetwork; - for stdin. "
            "None: the default plan.",
            show_default=False,
        ),
    ] = None,
    existing: Annotated[
        list[str] | None,
        typer.Option(
            "--existing",
            "-e",
            help="Networks around the cluster: CIDR or NAME=CIDR, comma-separated; '-' stdin, "
            "'@FILE'; repeatable.",
        ),
    ] = None,
    host: Annotated[
        bool, typer.Option("--host", help="Also check against this host's routes (Linux).")
    ] = False,
    nodes: Annotated[
        int | None, typer.Option("--nodes", help="Nodes the plan must grow to.")
    ] = None,
    pods_per_node: Annotated[
        int | None, typer.Option("--pods-per-node", help="Pods each node must hold.")
    ] = None,
    max_pods: Annotated[
        int, typer.Option("--max-pods", help="kubelet's maxPods.")
    ] = plan_mod.DEFAULT_MAX_PODS,
    output: OutputOpt = Output.table,
) -> None:
    """Capacity, head-room and conflicts of the pod, service and node ranges; exit 1 when the
    plan is broken."""
    from podnet.model.address_plan import plan_from_cluster
    from podnet.model.cluster import load_cluster

    around = plan_mod.parse_existing(list_option(existing))
    if host:
        try:
            around += plan_mod.read_host_routes()
        except plan_mod.NoHostRoutes as err:
            raise UsageError(f"--host needs Linux: {err}") from None
    cluster = load_cluster(paths or [])
    growth = None
    if nodes is not None or pods_per_node is not None:
        growth = plan_mod.Growth(
            nodes=nodes if nodes is not None else max(len(cluster.nodes), 1),
            pods_per_node=pods_per_node or max_pods,
        )
    try:
        report = plan_mod.check(
            plan_from_cluster(cluster), around, max_pods=max_pods, growth=growth
        )
    except InvalidValue as err:  # in the words of the command line
        option = _CHECK_OPTIONS.get(err.field, err.field)
        raise UsageError(f"bad {option} {err.value}: {err.why}") from None
    if output is Output.json:
        _print_json(report.to_json())
    else:
        _print_report(report)
    if report.status == "broken":
        raise typer.Exit(1)


# The options of `ipam check` that the plan's values come from.
_CHECK_OPTIONS = {"maxPods": "--max-pods", "podsPerNode": "--pods-per-node"}


def _print_report(report: plan_mod.Report) -> None:
    console = _console()
    style = _STATE_STYLE[report.status]
    console.print(f"address plan of cluster {report.name}: [{style}]{report.status}[/{style}]")
    table = Table(title_justify="left")
    for col in ("capacity of", "range", "holds", "used", "free", "use", "%"):
        table.add_column(col, justify="right" if col in ("holds", "used", "free") else "left")
    for u in report.usages:
        s = _STATE_STYLE[u.state]
        table.add_row(
            u.what,
            u.network,
            count(u.capacity),
            str(u.used),
            str(u.free),
            f"[{s}]{plan_mod.bar(u.share)}[/{s}]",
            f"{u.share:.0%}",
        )
    console.print(table)
    sections = (
        ("conflicts", [str(c) for c in report.conflicts], "red"),
        ("problems", list(report.problems), "red"),
        ("notes", list(report.notes), "yellow"),
        ("advice", list(report.advice), "cyan"),
    )
    for title, lines, colour in sections:
        if lines:
            console.print(f"[{colour}]{title}:[/{colour}]")
            for line in lines:
                console.print(f"  - {line}", markup=False)
