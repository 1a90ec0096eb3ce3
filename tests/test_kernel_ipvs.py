"""What the kernel has of IPVS, read from /proc and the module index (here from stand-ins)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podnet.kernel.ipvs import IPVSSupport, ipvs_support

# (files under the module index of the running release, /proc/net/ip_vs present, expected)
CASES = [
    ("nothing", {}, False, IPVSSupport.absent),
    ("loaded", {}, True, IPVSSupport.loaded),
    (
        "a module",
        {"modules.dep": "kernel/net/netfilter/ipvs/ip_vs.ko.zst: kernel/lib/libcrc32c.ko.zst\n"},
        False,
        IPVSSupport.module,
    ),
    ("built in", {"modules.builtin": "kernel/net/netfilter/ipvs/ip_vs.ko\n"}, False, IPVSSupport.module),
    (
        "only its schedulers and other modules",
        {"modules.dep": "kernel/net/netfilter/ipvs/ip_vs_rr.ko:\nkernel/net/ip_vsx.ko:\n"},
        False,
        IPVSSupport.absent,
    ),
    ("loaded wins", {"modules.dep": "kernel/ip_vs.ko:\n"}, True, IPVSSupport.loaded),
]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "proc", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_ipvs_support(tmp_path: Path, files: dict, proc: bool, want: IPVSSupport) -> None:
    index = tmp_path / "modules" / os.uname().release
    index.mkdir(parents=True)
    for name, text in files.items():
        (index / name).write_text(text)
    ip_vs = tmp_path / "ip_vs"
    if proc:
        ip_vs.write_text("IP Virtual Server version 1.2.1 (size=4096)\n")
    assert ipvs_support(str(ip_vs), str(tmp_path / "modules")) == want


def test_no_module_index(tmp_path: Path) -> None:
    assert ipvs_support(str(tmp_path / "ip_vs"), str(tmp_path / "none")) == IPVSSupport.absent
