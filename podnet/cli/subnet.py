"""`podnet subnet ...` and `podnet ipam ...`."""

from __future__ import annotations

import json
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from podnet.cli import app
from podnet.cli.cluster import NamespaceOpt
from podnet.errors import InvalidValue, UsageError
from podnet.ipam import capacity
from podnet.ipam import subnet as sn
from podnet.report import subnet as views
from podnet.report.formats import choices, render

subnet_app = typer.Typer(help="Subnet calculator and address planning.", no_args_is_help=True)
app.add_typer(subnet_app, name="subnet")


Output = choices(
    "Output",
    views.Infos,
    views.Splits,
    sn.VlsmPlan,
    views.FreeSpace,
    views.Summary,
    views.Overlaps,
    views.Containment,
    views.Ranges,
    capacity.Report,
)


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
    """The networks of a JSON list: strings, lists of them, and the objects `info` and `vlsm`
    print (their `network`)."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, list):
        return [t for item in data for t in _flatten(item)]
    if isinstance(data, dict) and isinstance(data.get("network"), str):
        return [data["network"]]
    raise UsageError(
        "bad JSON input: expected networks as strings, lists of them or objects with a"
        f' "network", got {data!r}'
    )


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


def _print(result: object, output: StrEnum) -> None:
    sys.stdout.write(render(result, output.value))


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
    infos = tuple(sn.describe(sn.parse_interface(t)) for t in _items(networks, file))
    _print(views.Infos(infos), output)


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
    result: list[tuple[sn.Network, tuple[sn.Network, ...]]] = []
    for parent in parents:
        if prefix is not None:
            new_prefix = sn.parse_prefixlen(prefix, sn.family(parent))
        else:
            assert subnets is not None
            new_prefix = sn.prefix_for_count(parent, subnets)
        result.append((parent, tuple(sn.split(parent, new_prefix))))
    _print(views.Splits(tuple(result), subnets), output)


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
    _print(sn.vlsm(parent, sn.parse_requests(hosts), point_to_point=point_to_point), output)


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
    ignored = sn.outside(parent_net, used_nets)
    _print(views.FreeSpace(parent_net, tuple(blocks), tuple(ignored), fitted), output)


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
    summary = views.Summary(
        len(nets), tuple(sn.summarize(nets)), tuple(sn.supernets(nets)), supernet
    )
    _print(summary, output)


@subnet_app.command()
def overlap(
    networks: Annotated[
        list[str] | None, typer.Argument(help="Networks to compare.", show_default=False)
    ] = None,
    file: FileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Every pair of overlapping networks."""
    _print(views.Overlaps(tuple(sn.overlaps(_networks(_items(networks, file))))), output)


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
    verdicts = tuple((value, sn.contains(net, value)) for _, value in parsed)
    _print(views.Containment(net, verdicts), output)
    if not all(inside for _, inside in verdicts):
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
    blocks = tuple((first, last, tuple(sn.address_range(first, last))) for first, last in ranges)
    _print(views.Ranges(blocks), output)


# ---------------------------------------------------------------------------------------------
# podnet ipam

ipam_app = typer.Typer(help="The cluster's address plan.", no_args_is_help=True)
app.add_typer(ipam_app, name="ipam")


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
    ] = capacity.DEFAULT_MAX_PODS,
    namespace: NamespaceOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Capacity, head-room and conflicts of the pod, service and node ranges; exit 1 when the
    plan is broken."""
    from podnet.cli.cluster import load
    from podnet.model.address_plan import plan_from_cluster

    around = capacity.parse_existing(list_option(existing))
    if host:
        try:
            around += capacity.read_host_routes()
        except capacity.NoHostRoutes as err:
            raise UsageError(f"--host needs Linux: {err}") from None
    cluster = load(paths or [], namespace)
    growth = None
    if nodes is not None or pods_per_node is not None:
        growth = capacity.Growth(
            nodes=nodes if nodes is not None else max(len(cluster.nodes), 1),
            pods_per_node=pods_per_node or max_pods,
        )
    try:
        report = capacity.check(
            plan_from_cluster(cluster), around, max_pods=max_pods, growth=growth
        )
    except InvalidValue as err:  # in the words of the command line
        if err.field not in (*_CHECK_OPTIONS, "growth"):
            raise
        option = _CHECK_OPTIONS.get(err.field, err.field)
        raise UsageError(f"bad {option} {err.value}: {err.why}") from None
    _print(report, output)
    if report.status == "broken":
        raise typer.Exit(1)


# The options of `ipam check` that the plan's values come from.
_CHECK_OPTIONS = {"maxPods": "--max-pods", "podsPerNode": "--pods-per-node"}
