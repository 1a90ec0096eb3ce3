"""Kernel tests: root, network namespaces, real links and nftables.

Without root they skip, except in CI (`CI=true`), where a missing requirement fails the test
loudly: CI runs as root and must run every kernel test.

Fixtures:
- `make_netns(prefix)`: a new network namespace `<prefix>-<random>`, deleted (with every link in
  it) when the test ends, failed or not;
- `netns`: one such namespace, prefix `pntest`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(ok: bool, why: str) -> None:
    """Skip the test when `ok` is false, or fail it in CI."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"kernel test requirement missing in CI: {why}", pytrace=False)
    pytest.skip(why)


def require_binary(name: str, where: str | None = None) -> str:
    path = os.path.join(where, name) if where else shutil.which(name)
    ok = bool(path) and os.access(path, os.X_OK)
    require(ok, f"{name} not found" + (f" in {where}" if where else " on PATH"))
    return path  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def _kernel_requirements() -> None:
    require(os.geteuid() == 0, "kernel tests need root")
    require_binary("ip")


@dataclass(frozen=True, slots=True)
class NetNS:
    """A named network namespace (`ip netns add`), mounted at /run/netns/<name>."""

    name: str

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def run(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        """Run a command inside the namespace (`ip netns exec`)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("check", True)
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], **kw)

    def ip_json(self, *args: str) -> list[dict]:
        """`ip -j <args>` in the namespace, decoded."""
        out = self.run("ip", "-j", *args).stdout
        return json.loads(out or b"[]")


def _add_netns(name: str) -> NetNS:
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    return NetNS(name)


def delete_netns(ns: NetNS) -> None:
    subprocess.run(["ip", "netns", "del", ns.name], check=False, capture_output=True)


@pytest.fixture
def make_netns() -> Iterator[Callable[[str], NetNS]]:
    created: list[NetNS] = []

    def make(prefix: str = "pntest") -> NetNS:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        assert len(name) <= 64
        ns = _add_netns(name)
        created.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in reversed(created):
            delete_netns(ns)


@pytest.fixture
def netns(make_netns: Callable[[str], NetNS]) -> NetNS:
    return make_netns("pntest")


# podnet up / down ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel_ready() -> None:
    """What the realisation needs: root, ip, nft, and bridged traffic through the inet hooks."""
    require(os.geteuid() == 0, "the realisation needs root")
    require_binary("ip")
    require_binary("nft")
    require(
        os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables"),
        "br_netfilter is not available (bridged pod traffic would skip nftables)",
    )


def leftovers(cluster: str) -> list[str]:
    """Anything of the cluster's still there: namespaces, state, /etc/netns entries, and in the
    root namespace links or nftables tables named with its prefixes."""
    from podnet.linux.plan import link_prefix, netns_prefix

    prefix = netns_prefix(cluster)
    out = []
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    out += [f"netns {line.split()[0]}" for line in names.splitlines() if line.startswith(prefix)]
    if os.path.exists(f"/run/podnet/{cluster}"):
        out.append(f"/run/podnet/{cluster}")
    if os.path.isdir("/etc/netns"):
        out += [f"/etc/netns/{d}" for d in os.listdir("/etc/netns") if d.startswith(prefix)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    out += [f"link {line}" for line in links.splitlines() if link_prefix(cluster) in line]
    nft = shutil.which("nft")
    if nft:
        tables = subprocess.run([nft, "list", "tables"], capture_output=True, text=True).stdout
        out += [f"nft {t}" for t in tables.splitlines() if "podnet" in t or "kube-proxy" in t]
    return out


def assert_no_leftovers(cluster: str) -> None:
    left = leftovers(cluster)
    assert not left, f"left behind by cluster {cluster}: {left}"
