"""`podnet up`, `status`, `probe`, `verify`, `exec` and `down`: the cluster network built for real
on this machine (root), probed, and compared with the model."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from podnet.cli import app
from podnet.cli.cluster import (
    NamespaceOpt,
    Paths,
    Port,
    ProtocolOpt,
    default_namespace,
    load,
    probe_ports,
    warn_gaps,
)
from podnet.errors import UsageError
from podnet.model.cluster import Cluster, load_cluster
from podnet.model.config import Backend, ProxyMode
from podnet.report.formats import choices, render

if TYPE_CHECKING:
    from podnet.linux.realised import Realised

NameOpt = Annotated[
    str | None,
    typer.Option("--name", help="The cluster's name (default: the only one up)."),
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=0.05, max=30, help="Seconds to wait for each connection."),
]


# Named, not imported: the kernel probes load only when a command probes.
MatrixFormat = choices(
    "MatrixFormat", "podnet.linux.verify.Measured", "podnet.linux.service_probe.ServiceMatrix"
)
StatusFormat = choices("StatusFormat", "podnet.report.status.Statuses")


def _need_root(command: str) -> None:
    if os.geteuid() != 0:
        raise UsageError(f"podnet {command} builds kernel objects and needs root")


def _read(paths: list[str], namespace: str | None) -> tuple[Cluster, list[tuple[str, str]]]:
    """The cluster, and the manifest files it came from as (name, text), stdin included (read
    once): `up` keeps them, and the namespace of objects that state none (-n), for the DNS
    servers and the commands that follow."""
    from podnet.model.cluster import resolve
    from podnet.model.documents import expand_paths, parse_text, read_text
    from podnet.model.parse import parse_documents

    sources = []
    for path in expand_paths(paths):
        try:
            text = read_text(path)
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"{path}: cannot read: {err}") from None
        sources.append(("<stdin>" if path == "-" else path, text))
    docs = [d for n, t in sources for d in parse_text(n, t)]
    cluster = resolve(parse_documents(docs, default_namespace(namespace)))
    warn_gaps(cluster)
    return cluster, sources


class _Bar:
    """A progress bar on stderr for large clusters (phases: namespaces, nodes, pods, ready)."""

    def __init__(self, enabled: bool) -> None:
        self.progress = None
        self.tasks: dict[str, int] = {}
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.progress = Progress(
                TextColumn("{task.description:<11}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.progress.start()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@app.command()
def up(
    paths: Paths,
    name: Annotated[
        str | None, typer.Option("--name", help="Cluster name (default: the manifests').")
    ] = None,
    backend: Annotated[
        Backend | None,
        typer.Option("--backend", help="Between nodes: host-gw routes or VXLAN (Flannel)."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Take the cluster down first if it is up.")
    ] = False,
    cni_exec: Annotated[
        bool,
        typer.Option(
            "--cni-exec",
            help="Run the CNI plugin executables (slower) instead of forked plugin processes.",
        ),
    ] = False,
    namespace: NamespaceOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (JSON) and build nothing.")
    ] = False,
) -> None:
    """Build the cluster network: a namespace per node and pod, CNI, routes, kube-proxy,
    NetworkPolicy, DNS and a probe agent per node. Returns when every pod is reachable."""
    from podnet.kernel.ipvs import ipvs_support
    from podnet.linux import apply, state, teardown
    from podnet.linux.plan import make_plan

    cluster, sources = _read(paths, namespace)
    ipvs = ipvs_support() if cluster.config.kube_proxy_mode == ProxyMode.ipvs else None
    plan = make_plan(cluster, name, backend.value if backend else None, ipvs=ipvs)
    if dry_run:
        print(json.dumps(plan.to_json(), indent=2))
        return
    _need_root("up")
    if state.read(plan.cluster) is not None:
        if not replace:
            raise UsageError(
                f"cluster {plan.cluster!r} is already up (or a previous `up` was interrupted):"
                f" run `podnet down --name {plan.cluster}` first, or `podnet up --replace`"
            )
        teardown.down(plan.cluster)
    started = time.monotonic()
    bar = _Bar(len(plan.pods) >= 50 and sys.stderr.isatty())
    try:
        apply.up(plan, sources, bar, cni_exec=cni_exec)
    except BaseException:
        bar.close()
        print(
            f"podnet up failed: removing what was built (podnet down --name {plan.cluster})",
            file=sys.stderr,
        )
        teardown.down(plan.cluster)
        raise
    bar.close()
    elapsed = time.monotonic() - started
    nodes = len(plan.nodes)
    print(
        f"cluster {plan.cluster} is up: {nodes} node(s), {len(plan.pods)} pod(s),"
        f" backend {plan.backend}, in {elapsed:.1f} s"
    )


@app.command()
def down(name: NameOpt = None) -> None:
    """Remove every namespace, link, route, ruleset, process and file the cluster created."""
    from podnet.linux import teardown

    _need_root("down")
    cluster = choose(name, none_up="podnet")  # the default name: cleans what a killed `up` left
    summary = teardown.down(cluster)
    print(f"cluster {cluster}: {summary}")


def choose(name: str | None, none_up: str | None = None) -> str:
    """The cluster a command is about: `name`, else the only one up (`none_up` when none is)."""
    from podnet.linux import state

    if name:
        return name
    up_now = state.clusters()
    if len(up_now) == 1:
        return up_now[0]
    if not up_now:
        if none_up is not None:
            return none_up
        raise UsageError("no cluster is up (run `podnet up PATH...`)")
    raise UsageError(f"several clusters are up ({', '.join(up_now)}): give --name")


def _record(cluster: str) -> Realised:
    """What `up` built for `cluster`, or the advice to build it."""
    from podnet.linux import state

    try:
        return state.load(cluster)
    except state.NotUp as err:
        raise UsageError(f"{err}; run `podnet up` first") from None


@app.command()
def status(
    name: NameOpt = None,
    output: Annotated[StatusFormat, typer.Option("-o", "--output")] = StatusFormat.table,
) -> None:
    """What is up: clusters, their nodes, pods, namespaces and processes."""
    from podnet.kernel import netns
    from podnet.linux import state
    from podnet.linux.plan import netns_prefix

    names = [name] if name else state.clusters()
    rows = []
    for cluster in names:
        record = state.read(cluster)
        if record is None:
            raise UsageError(f"cluster {cluster!r} is not up")
        info: dict = {"cluster": cluster, "complete": record.complete}
        present = [n for n in netns.listed() if n.startswith(netns_prefix(cluster))]
        info["namespaces"] = len(present)
        info["processes"] = sum(
            1 for pid, start in record.processes if start and state.process_start(pid) == start
        )
        if record.complete:
            live = _record(cluster)
            info.update(backend=live.backend, nodes=len(live.nodes), pods=len(live.pods))
        rows.append(info)
    from podnet.report.status import Statuses

    sys.stdout.write(render(Statuses(tuple(rows)), output.value))


def _live(name: str | None) -> tuple[Realised, Cluster]:
    """The cluster that is up: what was built and its model (from the manifests kept)."""
    live = _record(choose(name))
    return live, load_cluster([f"{live.state_dir}/manifests"], live.default_namespace)


@app.command()
def probe(
    name: NameOpt = None,
    port: Port = None,
    protocol: ProtocolOpt = None,
    services: Annotated[
        bool, typer.Option("--services", help="Pods to Service ports (ClusterIPs) instead.")
    ] = False,
    timeout: TimeoutOpt = 1.0,
    output: Annotated[MatrixFormat, typer.Option("-o", "--output")] = MatrixFormat.table,
) -> None:
    """Real connections between every pair of pods (or to every Service port), concurrently."""
    from podnet.linux import verify as v
    from podnet.policy.engine import declared_ports

    _need_root("probe")
    live, model = _live(name)
    if services:
        from podnet.linux import service_probe

        sys.stdout.write(render(service_probe.measure(model, live, timeout=timeout), output.value))
        return
    ports = probe_ports(model, port, protocol) or declared_ports(model.running_pods, model)
    measured = v.measure(model, live.pod_netns, ports, timeout)
    if port is not None:  # asked by number: a verdict toward every pod, declared or not
        measured = replace(measured, reach=replace(measured.reach, requested=True))
    sys.stdout.write(render(measured, output.value))


@app.command()
def verify(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Manifests to compare with (default: those the cluster was built from)."
        ),
    ] = None,
    name: NameOpt = None,
    services: Annotated[
        bool, typer.Option("--services/--no-services", help="Also compare Service ports.")
    ] = True,
    timeout: TimeoutOpt = 1.0,
    namespace: NamespaceOpt = None,
) -> None:
    """Model versus kernel, cell by cell: every difference, and exit status 1 if there is one."""
    from podnet.linux import verify as v
    from podnet.policy.engine import reach as model_reach

    if namespace is not None and not paths:
        raise UsageError(
            "-n applies to the manifests given; without them, verify reads the"
            " cluster as `up` did, -n included"
        )
    _need_root("verify")
    live, live_model = _live(name)
    model = load(paths, namespace) if paths else live_model
    netns_of = live.pod_netns
    missing = [p.key for p in v.probed_pods(model) if p.key not in netns_of]
    if missing:
        raise UsageError(
            f"{len(missing)} pod(s) of the manifests are not up, e.g. {missing[0]}:"
            " bring the cluster up from these manifests (podnet up --replace)"
        )
    expected = model_reach(model)
    measured = v.measure(model, netns_of, [(p.port, p.protocol) for p in expected.probes], timeout)
    diffs = v.recheck(measured, netns_of, v.differences(expected, measured), timeout)
    service_diffs: list = []
    if services:
        from podnet.linux import service_probe

        service_diffs = service_probe.verify(model, live, timeout=timeout)
    result = v.Comparison(tuple(diffs), tuple(service_diffs) if services else None, measured)
    sys.stdout.write(render(result, "text"))
    if result.total:
        raise typer.Exit(1)


@app.command(
    "exec",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def exec_(
    ctx: typer.Context,
    pod: Annotated[str, typer.Argument(help="namespace/pod")],
    name: NameOpt = None,
) -> None:
    """Run a command in a pod's network namespace, with the pod's /etc/resolv.conf:
    `podnet exec ns/pod -- CMD...`."""
    _need_root("exec")
    cmd = list(ctx.args)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("give the command after --: podnet exec ns/pod -- CMD...")
    info = _record(choose(name)).pods.get(pod)
    if info is None:
        raise UsageError(f"no pod {pod!r} in the cluster that is up")
    sys.stdout.flush()
    # `ip netns exec` gives the command a mount namespace where /etc/netns/<namespace>/resolv.conf
    # (the pod's, written by `up`) is /etc/resolv.conf.
    os.execvp("ip", ["ip", "netns", "exec", info.netns, *cmd])
