"""Applying a plan: the thin step that makes the kernel objects a `Plan` lists.

Links, addresses, routes, neighbours and FDB entries go through pyroute2's `IPRoute` opened
inside the target namespace; each ruleset is one `nft -f` transaction run in its node's
namespace; pods are attached by running podnet's CNI plugin as a runtime does (environment,
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
from ipaddress import ip_interface

from podnet.errors import PodnetError
from podnet.linux import netns, probe, state
from podnet.linux.plan import CNI_BRIDGE, CniCall, Netns, Plan, Process
from podnet.model.cluster import Cluster

NUD_PERMANENT = 0x80
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
        state.write_state(plan.cluster, {**plan.to_json(), "state_dir": plan.state_dir})
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
    from pyroute2 import IPRoute

    with netns.inside(ns.name):
        ipr = IPRoute()
    try:
        for link in ns.links:
            _add_link(ipr, link)
        for dev, cidr in ns.addresses:
            iface = ip_interface(cidr)
            ipr.addr(
                "add",
                index=_index(ipr, dev),
                address=str(iface.ip),
                prefixlen=iface.network.prefixlen,
            )
        for dev in ns.up:
            ipr.link("set", index=_index(ipr, dev), state="up")
        for n in ns.neighbours:
            ipr.neigh(
                "add", dst=n.ip, lladdr=n.mac, ifindex=_index(ipr, n.dev), state=NUD_PERMANENT
            )
        for e in ns.fdb:
            ipr.fdb("add", ifindex=_index(ipr, e.dev), lladdr=e.mac, dst=e.dst, state=NUD_PERMANENT)
        for r in ns.routes:
            kw: dict = {"dst": r.dst}
            if r.gateway:
                kw["gateway"] = r.gateway
            if r.dev:
                kw["oif"] = _index(ipr, r.dev)
            if r.onlink:
                kw["flags"] = ["onlink"]
            if r.src:
                kw["prefsrc"] = r.src
            ipr.route("add", **kw)
    except Exception as err:
        raise RealiseError(f"{ns.name}: {err}") from err
    finally:
        ipr.close()


def _index(ipr, name: str) -> int:  # type: ignore[no-untyped-def]
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise RealiseError(f"no link {name}")
    return found[0]


def _add_link(ipr, link) -> None:  # type: ignore[no-untyped-def]
    kw: dict = {"ifname": link.name, "kind": link.kind}
    if link.mtu:
        kw["mtu"] = link.mtu
    if link.mac:
        kw["address"] = link.mac
    if link.kind == "veth":
        fd = os.open(netns.path(link.peer_netns), os.O_RDONLY | os.O_CLOEXEC)
        try:
            peer: dict = {"ifname": link.peer, "net_ns_fd": fd}
            if link.mtu:
                peer["mtu"] = link.mtu
            kw["peer"] = peer
            ipr.link("add", **kw)
        finally:
            os.close(fd)
    elif link.kind == "vxlan":
        kw.update(
            vxlan_id=link.vxlan_id,
            vxlan_local=link.vxlan_local,
            vxlan_port=link.vxlan_port,
            vxlan_learning=0,
        )
        ipr.link("add", **kw)
    else:
        ipr.link("add", **kw)
    if link.master:
        ipr.link("set", index=_index(ipr, link.name), master=_index(ipr, link.master))


# rulesets, files, pods --------------------------------------------------------------------------


def apply_ruleset(ns: Netns) -> None:
    if not ns.ruleset:
        return
    result = netns.run(ns.name, ["nft", "-f", "-"], stdin=ns.ruleset.encode())
    if result.returncode != 0:
        raise RealiseError(
            f"{ns.name}: nft -f refused the ruleset: {result.stderr.decode().strip()}"
        )


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


RTM_NEWNEIGH = 28
NDA_DST, NDA_LLADDR = 1, 2


def static_neighbours(ns: Netns, dev: str = "") -> None:
    """The namespace's permanent neighbour entries (on `dev` only, if given), by netlink from
    inside it, once their links are ready: for a pod, after the plugin made `eth0`; for a node's
    `cni0`, after the plugin set its address and MAC."""
    wanted = [n for n in ns.neighbours if not dev or n.dev == dev]
    if not wanted:
        return
    import socket
    import struct

    from podnet.cni import netlink

    with netns.inside(ns.name):
        rtnl = netlink.Rtnl()
    try:
        for n in wanted:
            link = rtnl.link_get(n.dev)
            if link is None:
                raise RealiseError(f"{ns.name}: no link {n.dev}")
            body = struct.pack("=BxxxiHBB", socket.AF_INET, link.index, NUD_PERMANENT, 0, 0)
            body += netlink.attr(NDA_DST, socket.inet_aton(n.ip))
            body += netlink.attr(NDA_LLADDR, netlink.mac_bytes(n.mac))
            rtnl.request(RTM_NEWNEIGH, netlink.NLM_F_CREATE | netlink.NLM_F_REPLACE, body)
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
    from podnet.policy.nftables import TABLE
    from podnet.policy.nftables import render_node as render_policy

    def one(item: tuple[str, str]) -> None:
        node, ns = item
        text = f"table inet {TABLE}\ndelete table inet {TABLE}\n" + render_policy(cluster, node)
        result = netns.run(ns, ["nft", "-f", "-"], stdin=text.encode())
        if result.returncode != 0:
            raise RealiseError(f"{ns}: nft -f refused the policy table: {result.stderr.decode()}")

    with ThreadPoolExecutor(max_workers=workers()) as pool:
        list(pool.map(one, nodes.items()))
