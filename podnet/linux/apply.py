"""Applying a plan: the thin step that makes the kernel objects a `Plan` lists.

Links, addresses, routes, neighbours and FDB entries go through podnet's own netlink client
(`kernel.netlink`, the one the CNI plugin uses) opened inside the target namespace; each ruleset
is one `nft -f` transaction run in its node's namespace; pods are attached by running podnet's CNI plugin as a runtime does (environment,
configuration on stdin) from the node's namespace, several at once; the probe agents and DNS
servers are started in their namespaces. Every namespace, path and process is written to the
journal (`state.Journal`) before it is created, so `teardown` can always undo it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_interface, ip_network

from podnet.errors import PodnetError
from podnet.kernel import netlink, netns, nft
from podnet.linux import probe, state
from podnet.linux.plan import CNI_BRIDGE, CniCall, Link, Netns, Plan, Process
from podnet.model.cluster import Cluster

READY_TIMEOUT = 30.0


class RealiseError(PodnetError):
    """The kernel refused a step of the plan (exit status 1: nothing wrong with the input)."""

    exit_code = 1


Progress = Callable[[str, int, int], None]  # (phase, done, total)


def _quiet(phase: str, done: int, total: int) -> None:
    return None


def workers() -> int:
    return max(4, 2 * (os.cpu_count() or 1))


def up(
    plan: Plan,
    sources: list[tuple[str, str]],
    progress: Progress = _quiet,
    cni_exec: bool = False,
) -> None:
    """Build everything `plan` lists. `sources` are the manifests (name, text) the cluster came
    from: kept under the state directory, where the DNS servers and later commands read them.
    `cni_exec`: run the installed plugin executables rather than forked plugin processes."""
    journal = state.Journal(plan.cluster)
    try:
        journal.write(cluster=plan.cluster, backend=plan.backend, started=time.time())
        _snapshot(plan, sources)
        from podnet.cni import install

        install.install(plan.cni_bin)
        names = list(plan.namespace_names)
        prepare = f"pn-{plan.cluster}-_prepare"
        journal.namespaces([prepare, *names])
        netns.prepare(prepare)
        _parallel(
            lambda ns: netns.create(ns.name, ns.sysctls), plan.namespaces, "namespaces", progress
        )
        underlay, external, *rest = plan.namespaces
        configure(underlay)
        nodes = [n for n in rest if n.role == "node"]
        _parallel(configure, [external, *nodes], "nodes", progress)
        _parallel(apply_ruleset, nodes, "rulesets", progress)
        _write_files(plan, journal)
        run_plugin = cni_add if cni_exec else cni_add_forked
        if not cni_exec:
            _preload_cni()
        pod_ns = {p.key: plan.netns(p.netns) for p in plan.pods if p.cni is not None}

        def add(call: CniCall) -> None:
            run_plugin(call)
            static_neighbours(pod_ns[call.pod])

        # The DNS pods first, so that their servers start while the other pods are attached;
        # the agents open their sockets in namespaces that exist already.
        hosts = {proc.netns for proc in plan.processes}
        first = [p.cni for p in plan.pods if p.cni is not None and p.netns in hosts]
        rest = [p.cni for p in plan.pods if p.cni is not None and p.netns not in hosts]
        _parallel(add, first, "pods", progress)
        agents = start_processes(plan, journal)
        _parallel(add, rest, "pods", progress)
        for node in nodes:
            static_neighbours(node, CNI_BRIDGE)
        wait_agents(plan, agents)
        wait_ready(plan, progress)
        state.save(plan.realised(plan.state_dir))
    finally:
        journal.close()


def _snapshot(plan: Plan, sources: list[tuple[str, str]]) -> None:
    directory = f"{plan.state_dir}/manifests"
    os.makedirs(directory, exist_ok=True)
    for i, (name, text) in enumerate(sources):
        base = os.path.basename(name) or "stdin"
        if not base.endswith((".yaml", ".yml", ".json")):
            base += ".yaml"
        with open(f"{directory}/{i:04d}-{base}", "w") as f:
            f.write(text)


def _parallel(fn: Callable, items: Iterable, phase: str, progress: Progress) -> None:
    items = list(items)
    done = 0
    lock = threading.Lock()
    progress(phase, 0, len(items))

    def one(item: object) -> None:
        nonlocal done
        fn(item)
        with lock:
            done += 1
            progress(phase, done, len(items))

    with ThreadPoolExecutor(max_workers=workers()) as pool:
        for f in [pool.submit(one, i) for i in items]:
            f.result()


# links, addresses, routes ---------------------------------------------------------------------


def configure(ns: Netns) -> None:
    """Links, addresses, routes, neighbours and FDB entries of one namespace (its sysctls were
    set when it was created)."""
    with netns.inside(ns.name):
        rtnl = netlink.Rtnl()
    try:
        for link in ns.links:
            _add_link(rtnl, link)
        for dev, cidr in ns.addresses:
            rtnl.addr_add(rtnl.index(dev), ip_interface(cidr), broadcast=False)
        for dev in ns.up:
            rtnl.link_set(rtnl.index(dev), up=True)
        for n in ns.neighbours:
            rtnl.neigh_add(rtnl.index(n.dev), n.ip, n.mac)
        for e in ns.fdb:
            rtnl.fdb_add(rtnl.index(e.dev), e.mac, e.dst)
        for r in ns.routes:
            rtnl.route_add(
                ip_network(r.dst),
                gw=r.gateway,
                oif=rtnl.index(r.dev) if r.dev else 0,
                onlink=r.onlink,
                prefsrc=r.src,
                protocol=netlink.RTPROT_STATIC,
            )
    except Exception as err:
        raise RealiseError(f"{ns.name}: {err}") from err
    finally:
        rtnl.close()


def _add_link(rtnl: netlink.Rtnl, link: Link) -> None:
    if link.kind == "veth":
        fd = netns.open_fd(link.peer_netns)
        try:
            rtnl.veth_add(link.name, link.peer, link.mtu, peer_netns_fd=fd, mac=link.mac)
        finally:
            os.close(fd)
    elif link.kind == "vxlan":
        rtnl.vxlan_add(
            link.name,
            link.vxlan_id,
            local=link.vxlan_local,
            port=link.vxlan_port,
            learning=False,
            mtu=link.mtu,
            mac=link.mac,
        )
    elif link.kind == "bridge":
        rtnl.bridge_add(link.name, link.mtu, link.mac)
    else:
        raise RealiseError(f"link {link.name}: no kind {link.kind!r}")
    if link.master:
        rtnl.link_set(rtnl.index(link.name), master=rtnl.index(link.master))


# rulesets, files, pods --------------------------------------------------------------------------


def apply_ruleset(ns: Netns) -> None:
    if not ns.ruleset:
        return
    try:
        nft.apply(ns.ruleset, ns.name)
    except nft.NftError as err:
        raise RealiseError(f"{ns.name}: nft -f refused the ruleset: {err.stderr or err}") from err


def _write_files(plan: Plan, journal: state.Journal) -> None:
    outside = sorted(
        {os.path.dirname(p) for p, _ in plan.files if not p.startswith(plan.state_dir)}
    )
    journal.paths(outside)
    for path, content in plan.files:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(content)


def cni_add(call: CniCall, bindir: str | None = None) -> dict:
    """Run the plugin as a runtime does, from the node's namespace; its result."""
    env = dict(call.env)
    env["PATH"] = os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    plugin = os.path.join(bindir or env["CNI_PATH"], call.plugin)
    result = netns.run(call.node_netns, [plugin], stdin=call.config.encode(), env=env)
    out = result.stdout.decode()
    if result.returncode != 0:
        raise RealiseError(
            f"CNI ADD of pod {call.pod} failed: {out.strip() or result.stderr.decode()}"
        )
    return json.loads(out)


def static_neighbours(ns: Netns, dev: str = "") -> None:
    """The namespace's permanent neighbour entries (on `dev` only, if given), by netlink from
    inside it, once their links are ready: for a pod, after the plugin made `eth0`; for a node's
    `cni0`, after the plugin set its address and MAC."""
    wanted = [n for n in ns.neighbours if not dev or n.dev == dev]
    if not wanted:
        return
    with netns.inside(ns.name):
        rtnl = netlink.Rtnl()
    try:
        for n in wanted:
            link = rtnl.link_get(n.dev)
            if link is None:
                raise RealiseError(f"{ns.name}: no link {n.dev}")
            rtnl.neigh_add(link.index, n.ip, n.mac, replace=True)
    finally:
        rtnl.close()


def _preload_cni() -> None:
    import podnet.cni.bridge
    import podnet.cni.delegate
    import podnet.cni.hostlocal
    import podnet.cni.main  # noqa: F401


def cni_add_forked(call: CniCall) -> dict:
    """The same invocation in a forked process: the plugin's `main` with the call's environment,
    the configuration on its stdin and the result on its stdout, exit status and all; only the
    interpreter's start and the imports (most of an executed plugin's time) are skipped."""
    from podnet.cni import main

    env = dict(call.env)
    plugin = os.path.join(env["CNI_PATH"], call.plugin)
    read_fd, write_fd = os.pipe()
    with netns.inside(call.node_netns):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                os.close(read_fd)
                out = os.fdopen(write_fd, "wb")
                code = main.main([plugin], env, io.BytesIO(call.config.encode()), out)
                out.close()
            finally:
                os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        out = f.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RealiseError(f"CNI ADD of pod {call.pod} failed: {out.strip()}")
    return json.loads(out)


# processes --------------------------------------------------------------------------------------


def start_processes(plan: Plan, journal: state.Journal) -> list[tuple[Process, subprocess.Popen]]:
    """Start every process of the plan; the agents, whose `ready` line is still to be read."""
    logs = f"{plan.state_dir}/logs"
    os.makedirs(logs, exist_ok=True)
    agents = []
    for proc in plan.processes:
        journal.write(starting=proc.name)
        child = _spawn(proc, logs)
        journal.process(child.pid)
        if proc.name.startswith("agent "):
            agents.append((proc, child))
        elif child.stdout is not None:
            child.stdout.close()
    return agents


def wait_agents(plan: Plan, agents: list[tuple[Process, subprocess.Popen]]) -> None:
    logs = f"{plan.state_dir}/logs"
    for proc, child in agents:
        assert child.stdout is not None
        line = _readline(child, READY_TIMEOUT)
        child.stdout.close()
        if line.strip() != "ready":
            tail = _tail(f"{logs}/{_log_name(proc)}")
            raise RealiseError(f"{proc.name} did not start: {tail}")


def _log_name(proc: Process) -> str:
    return proc.name.replace("/", "_").replace(" ", "-") + ".log"


def _spawn(proc: Process, logs: str) -> subprocess.Popen:
    log = open(f"{logs}/{_log_name(proc)}", "ab")  # noqa: SIM115
    try:
        with netns.inside(proc.netns):
            return subprocess.Popen(
                list(proc.argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                cwd="/",
                env={**os.environ, "PYTHONPATH": _podnet_root()},
            )
    finally:
        log.close()


def _podnet_root() -> str:
    import podnet

    return os.path.dirname(os.path.dirname(os.path.abspath(podnet.__file__)))


def _readline(child: subprocess.Popen, timeout: float) -> str:
    import selectors

    assert child.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(child.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return ""
        return child.stdout.readline().decode()
    finally:
        sel.close()


def _tail(path: str) -> str:
    with contextlib.suppress(OSError), open(path) as f:
        return " | ".join(f.read().strip().splitlines()[-3:]) or "(no output)"
    return "(no log)"


# readiness --------------------------------------------------------------------------------------


def readiness_attempts(plan: Plan) -> list[tuple[probe.Attempt, bool]]:
    """From each node to each of its pods: (attempt, whether a listener must answer)."""
    out = []
    for pod in plan.pods:
        if pod.host_network or not pod.ips:
            continue
        node_ns = plan.nodes[pod.node]
        tcp = [port for port, proto in pod.ports if proto == "TCP"]
        if tcp:
            out.append((probe.Attempt(node_ns, pod.ips[0], tcp[0], "TCP"), True))
        else:
            out.append((probe.Attempt(node_ns, pod.ips[0], 9, "TCP"), False))
    return out


def wait_ready(plan: Plan, progress: Progress = _quiet, timeout: float = READY_TIMEOUT) -> None:
    """Until every pod is reachable from its node (and listening, when it declares a port)."""
    pending = readiness_attempts(plan)
    total = len(pending)
    deadline = time.monotonic() + timeout
    while True:
        outcomes = probe.run([a for a, _ in pending], timeout=1.0)
        pending = [
            (a, must_open)
            for (a, must_open), o in zip(pending, outcomes, strict=True)
            if not (o.status == probe.OPEN or (o.status == probe.REFUSED and not must_open))
        ]
        progress("ready", total - len(pending), total)
        if not pending:
            return
        if time.monotonic() > deadline:
            first = pending[0][0]
            raise RealiseError(
                f"{len(pending)} pod(s) not reachable from their node after {timeout:.0f} s,"
                f" e.g. {first.ip}:{first.port}/{first.protocol} from {first.netns}"
            )
        time.sleep(0.2)


def reload_policies(cluster: Cluster, nodes: dict[str, str]) -> None:
    """Replace each node's NetworkPolicy table with the one `cluster` compiles, atomically (what
    a policy agent does when policies change; pods and addresses stay as they are)."""
    from podnet.nftables import replace_table
    from podnet.policy.nftables import TABLE
    from podnet.policy.nftables import render_node as render_policy

    def one(item: tuple[str, str]) -> None:
        node, ns = item
        text = replace_table("inet", TABLE, render_policy(cluster, node))
        try:
            nft.apply(text, ns)
        except nft.NftError as err:
            raise RealiseError(
                f"{ns}: nft -f refused the policy table: {err.stderr or err}"
            ) from err

    with ThreadPoolExecutor(max_workers=workers()) as pool:
        list(pool.map(one, nodes.items()))
