"""Running nft and writing sysctls, with the program and /proc/sys replaced (no root)."""

from __future__ import annotations

import pytest

from podnet.cni import nft as cni_nft
from podnet.cni import spec
from podnet.cni.spec import CniError
from podnet.kernel import nft, sysctl


def test_a_missing_nft_is_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nft, "NFT", "/nonexistent/nft")
    with pytest.raises(nft.NftError) as caught:
        nft.apply("add table inet t\n")
    assert caught.value.missing
    with pytest.raises(CniError) as cni:
        cni_nft.apply("add table inet t\n")
    assert cni.value.code == spec.INTERNAL and "nft not found" in cni.value.msg


def test_a_refused_script_carries_what_nft_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nft, "NFT", "false")
    with pytest.raises(nft.NftError) as caught:
        nft.apply("nonsense\n")
    assert not caught.value.missing and caught.value.stderr == ""
    assert not nft.has_table("inet", "t")


def test_sysctls_are_files_under_proc_sys(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "net/ipv4").mkdir(parents=True)
    (tmp_path / "net/ipv4/ip_forward").write_text("0\n")
    monkeypatch.setattr(sysctl, "ROOT", f"{tmp_path}/")
    assert sysctl.read("net/ipv4/ip_forward") == "0"
    sysctl.write("net/ipv4/ip_forward", "1")
    assert sysctl.read("net/ipv4/ip_forward") == "1"
