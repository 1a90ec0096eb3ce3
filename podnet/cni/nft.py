"""nftables for ipMasq and portmap: one table per attachment, so DEL is one `delete table`.

The rulesets are text built by pure functions (`masq_table`, ...) with `podnet.nftables`; `apply` feeds a script to
`nft -f -` in the caller's network namespace (the node's). A table's comment records the
network, container and interface, which is what GC reads back.
"""

from __future__ import annotations

import ipaddress

from podnet.cni import spec
from podnet.cni.spec import CniError
from podnet.family import family as ip_family
from podnet.kernel import nft as kernel_nft


def table_name(prefix: str, network: str, container_id: str, ifname: str) -> str:
    import hashlib

    digest = hashlib.sha256(f"{network}\0{container_id}\0{ifname}".encode()).hexdigest()[:16]
    return f"{prefix}-{digest}"


def comment(network: str, container_id: str, ifname: str) -> str:
    return f"podnet-cni {network} {container_id} {ifname}"


def masq_table(
    name: str, note: str, ips: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]
) -> str:
    """The bridge's ipMasq: traffic from the pod to outside its subnet and multicast is masqueraded."""
    from podnet.nftables import Chain, Rule, Table, Transaction  # only when ipMasq is on

    tx = Transaction("inet", name)
    tx.add(Table(comment=note))
    tx.add(Chain("postrouting", "nat", "postrouting", "srcnat", "accept"))
    for iface in ips:
        fam = ip_family(iface).nft
        multicast = ip_family(iface).multicast
        tx.add(
            Rule(
                "postrouting",
                f"{fam} saddr {iface.ip} {fam} daddr != {iface.network} {fam} daddr != {multicast}"
                " masquerade",
            )
        )
    return tx.definition()


def apply(script: str) -> None:
    try:
        kernel_nft.apply(script)
    except kernel_nft.NftError as err:
        raise _cni_error(err) from None


def _cni_error(err: kernel_nft.NftError) -> CniError:
    if err.missing:
        return CniError(spec.INTERNAL, "nft not found: nftables is needed for ipMasq and portmap")
    return CniError(spec.INTERNAL, "nft failed", err.stderr)


_TABLE = r'^table (\S+) (\S+) \{\n(?:\s+comment "([^"]*)")?'


def tables_in(ruleset: str, prefix: str) -> list[tuple[str, str, str]]:
    """(family, name, comment) of every table of `nft list ruleset` text named `prefix`*.

    Text, because nft 1.0's JSON output leaves table comments out.
    """
    import re

    return [
        (m[1], m[2], m[3] or "")
        for m in re.finditer(_TABLE, ruleset, re.M)
        if m[2].startswith(prefix)
    ]


def tables_with_prefix(prefix: str) -> list[tuple[str, str, str]]:
    try:
        ruleset = kernel_nft.list_ruleset()
    except kernel_nft.NftError as err:
        raise _cni_error(err) from None
    return tables_in(ruleset, prefix)


def attachment_of(note: str) -> tuple[str, str, str] | None:
    """(network, containerID, ifname) of a table comment written by `comment`."""
    parts = note.split(" ")
    if len(parts) == 4 and parts[0] == "podnet-cni":
        return parts[1], parts[2], parts[3]
    return None


def gc_tables(prefix: str, network: str, valid: set[tuple[str, str]]) -> None:
    script = ""
    for family, name, note in tables_with_prefix(prefix):
        owner = attachment_of(note)
        if owner is not None and owner[0] == network and (owner[1], owner[2]) not in valid:
            script += f"delete table {family} {name}\n"
    if script:
        apply(script)
