"""Subnet arithmetic: parse, describe, split, plan (VLSM), free space, summaries, overlaps.

Pure: values in, values out; no I/O and no printing. Everything is built on Python's
`ipaddress` (networks are `IPv4Network`/`IPv6Network` values, never raw integers), and what
differs between the families lives in one place, `podnet.ipam.addresses.Family`.

Conventions (documented for users in docs/subnet.md):
- `parse_interface` reads an address with an optional prefix length or mask and keeps the
  host bits (what `info` describes); `parse_network` is strict and rejects host bits, for every
  place where a network is required.
- Usable hosts: IPv4 reserves the network and broadcast addresses, except on /31
  (RFC 3021, two hosts, no broadcast) and /32 (one host). IPv6 has no broadcast; the first
  address of a subnet is the Subnet-Router anycast address (RFC 4291), so the usable range
  starts one above it, except on /127 (RFC 6164, two hosts) and /128 (one host).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Network,
    NetmaskValueError,
    collapse_addresses,
    ip_address,
    ip_interface,
    ip_network,
    summarize_address_range,
)

from podnet.errors import InvalidValue
from podnet.family import FAMILIES, Family, family
from podnet.ipam.addresses import IPAddress, IPInterface, IPNetwork

Address = IPAddress
Network = IPNetwork
Interface = IPInterface

# A listing larger than this is refused rather than printed: a /8 split into /32s is a typo.
MAX_LISTED = 65536


# ---------------------------------------------------------------------------------------------
# Parsing


def _bad(field: str, value: object, why: str) -> InvalidValue:
    """An input the calculator cannot use, in its words: `bad network '10.0.0.1/33': ...` (text
    quoted as it was typed, numbers as they are)."""
    shown = repr(value) if isinstance(value, str) else value
    return InvalidValue(field, value, why, message=f"bad {field} {shown}: {why}")


def _prefix_from_mask(text: str, mask: str) -> int:
    """An IPv4 mask in dotted (or Cisco wildcard) or 0x-hex notation, as a prefix length."""
    if mask.lower().startswith("0x"):
        try:
            value = int(mask, 16)
        except ValueError:
            raise _bad("network", text, f"{mask!r} is not a hex mask") from None
        if value >= 2**32:
            raise _bad("network", text, f"hex mask {mask} is wider than 32 bits")
        dotted = str(IPv4Address(value))
    else:
        dotted = mask
        try:
            IPv4Address(dotted)
        except ValueError:
            raise _bad("network", text, f"{mask!r} is not a mask") from None
    try:
        return IPv4Network(f"0.0.0.0/{dotted}").prefixlen
    except (NetmaskValueError, ValueError):
        raise _bad("network", text, f"mask {mask} is not contiguous") from None


def parse_interface(text: str) -> Interface:
    """An address with an optional `/prefix`, `/dotted.mask` or `/0xhexmask`; host bits kept.

    Without a prefix the address stands for itself (/32 or /128).
    """
    raw = text.strip()
    if not raw:
        raise _bad("network", "", "empty")
    addr_text, slash, mask = raw.partition("/")
    try:
        addr = ip_address(addr_text)
    except ValueError:
        raise _bad("network", raw, f"{addr_text!r} is not an IPv4 or IPv6 address") from None
    fam = family(addr)
    if not slash:
        prefixlen = fam.bits
    elif re.fullmatch(r"[0-9]+", mask):
        prefixlen = int(mask)
        if prefixlen > fam.bits:
            why = f"prefix length /{mask} is out of range for {fam.name} (0-{fam.bits})"
            raise _bad("network", raw, why)
    elif fam.version == 4 and ("." in mask or mask.lower().startswith("0x")):
        prefixlen = _prefix_from_mask(raw, mask)
    elif not mask:
        raise _bad("network", raw, "nothing after '/'")
    else:
        kind = "a prefix length or mask" if fam.version == 4 else "a prefix length"
        raise _bad("network", raw, f"{mask!r} is not {kind}")
    return ip_interface((addr, prefixlen))


def parse_network(text: str) -> Network:
    """A network: like `parse_interface`, but the host bits must be zero."""
    iface = parse_interface(text)
    if iface.ip != iface.network.network_address:
        raise _bad("network", text.strip(), f"host bits set (the network is {iface.network})")
    return iface.network


def parse_address(text: str) -> Address:
    raw = text.strip()
    try:
        return ip_address(raw)
    except ValueError:
        raise _bad("address", raw, "not an IPv4 or IPv6 address") from None


def parse_prefixlen(text: str | int, fam: Family) -> int:
    """A prefix length given as `26` or `/26` for a network of family `fam`."""
    raw = str(text).strip().removeprefix("/")
    if not re.fullmatch(r"[0-9]+", raw) or int(raw) > fam.bits:
        raise _bad("prefix length", str(text), f"expected 0-{fam.bits} for {fam.name}")
    return int(raw)


def sort_key(net: Network) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


# ---------------------------------------------------------------------------------------------
# Describing one network


def _scope_table() -> tuple[tuple[Network, str, str], ...]:
    # IANA special-purpose registries (RFC 6890 and successors): the scopes a planner cares
    # about. A network inside one of these blocks takes the most specific one's scope.
    rows = (
        ("0.0.0.0/8", "this-network", "RFC 791"),
        ("10.0.0.0/8", "private", "RFC 1918"),
        ("100.64.0.0/10", "shared", "RFC 6598"),
        ("127.0.0.0/8", "loopback", "RFC 1122"),
        ("169.254.0.0/16", "link-local", "RFC 3927"),
        ("172.16.0.0/12", "private", "RFC 1918"),
        ("192.0.2.0/24", "documentation", "RFC 5737"),
        ("192.168.0.0/16", "private", "RFC 1918"),
        ("198.18.0.0/15", "benchmarking", "RFC 2544"),
        ("198.51.100.0/24", "documentation", "RFC 5737"),
        ("203.0.113.0/24", "documentation", "RFC 5737"),
        ("224.0.0.0/4", "multicast", "RFC 5771"),
        ("240.0.0.0/4", "reserved", "RFC 1112"),
        ("255.255.255.255/32", "broadcast", "RFC 919"),
        ("::/128", "unspecified", "RFC 4291"),
        ("::1/128", "loopback", "RFC 4291"),
        ("::ffff:0:0/96", "ipv4-mapped", "RFC 4291"),
        ("64:ff9b::/96", "nat64", "RFC 6052"),
        ("2001:2::/48", "benchmarking", "RFC 5180"),
        ("2001:db8::/32", "documentation", "RFC 3849"),
        ("3fff::/20", "documentation", "RFC 9637"),
        ("fc00::/7", "unique-local", "RFC 4193"),
        ("fe80::/10", "link-local", "RFC 4291"),
        ("ff00::/8", "multicast", "RFC 4291"),
    )
    return tuple((ip_network(net), scope, rfc) for net, scope, rfc in rows)


SCOPES = _scope_table()


def scope(net: Network) -> tuple[str, str | None]:
    """The address scope of `net` and the RFC that defines it.

    `global` when the network touches no special-purpose block, `mixed` when it spans
    special-purpose space and other space (0.0.0.0/0, for example).
    """
    same = [row for row in SCOPES if row[0].version == net.version]
    inside = [row for row in same if net.subnet_of(row[0])]  # type: ignore[arg-type]
    if inside:
        _, name, rfc = max(inside, key=lambda row: row[0].prefixlen)
        return name, rfc
    if any(net.overlaps(block) for block, _, _ in same):  # type: ignore[arg-type]
        return "mixed", None
    return "global", None


_CLASSES = tuple(
    (IPv4Network(net), name)
    for net, name in (
        ("0.0.0.0/1", "A"),
        ("128.0.0.0/2", "B"),
        ("192.0.0.0/3", "C"),
        ("224.0.0.0/4", "D"),
        ("240.0.0.0/4", "E"),
    )
)


def address_class(addr: Address) -> str | None:
    """The classful class of an IPv4 address (A-E, by its leading bits); None for IPv6."""
    if addr.version != 4:
        return None
    return next(name for net, name in _CLASSES if addr in net)


def reverse_zone(net: Network) -> str:
    """The reverse DNS zone holding the network's names: the prefix rounded down to a whole
    octet (in-addr.arpa) or nibble (ip6.arpa), with the trailing dot, as ipcalc prints it."""
    fam = family(net)
    labels = net.network_address.reverse_pointer.split(".")
    keep = net.prefixlen // fam.reverse_label_bits
    total = fam.bits // fam.reverse_label_bits
    return ".".join(labels[total - keep :]) + "."


def binary(addr: Address, prefixlen: int) -> str:
    """The address in binary, grouped like its text form, with `|` at the prefix boundary."""
    fam = family(addr)
    bits = format(int(addr), f"0{fam.bits}b")
    out = []
    for i, bit in enumerate(bits):
        if i == prefixlen:
            out.append("|")
        elif i and i % fam.group_bits == 0:
            out.append(fam.group_sep)
        out.append(bit)
    if prefixlen == fam.bits:
        out.append("|")
    return "".join(out)


def usable_range(net: Network) -> tuple[Address, Address]:
    """First and last address a host may use (see the module docstring for the rules)."""
    fam = family(net)
    if fam.is_point_to_point(net.prefixlen):
        return net.network_address, net.broadcast_address
    return net.network_address + 1, net.broadcast_address - (fam.reserved - 1)


def hosts_in_prefix(fam: Family, prefixlen: int) -> int:
    """Usable hosts in any subnet of length `prefixlen`."""
    size = 2 ** (fam.bits - prefixlen)
    return size if fam.is_point_to_point(prefixlen) else size - fam.reserved


def usable_hosts(net: Network) -> int:
    return hosts_in_prefix(family(net), net.prefixlen)


def broadcast(net: Network) -> Address | None:
    """The broadcast address: IPv4 subnets of /30 and wider only."""
    fam = family(net)
    if not fam.has_broadcast(net.prefixlen):
        return None
    return net.broadcast_address


@dataclass(frozen=True, slots=True)
class SubnetInfo:
    """Everything `podnet subnet info` reports about one address/prefix (rendered by
    `report.subnet`)."""

    address: Address
    network: Network

    @property
    def netmask_hex(self) -> str | None:
        if self.network.version != 4:
            return None
        return f"0x{int(self.network.netmask):08x}"


def describe(iface: Interface) -> SubnetInfo:
    return SubnetInfo(address=iface.ip, network=iface.network)


# ---------------------------------------------------------------------------------------------
# Splitting and planning


def _check_listable(count: int, what: str) -> None:
    if count > MAX_LISTED:
        why = f"at most {MAX_LISTED} are listed"
        raise InvalidValue(what, count, why, message=f"{what} gives {count} networks; {why}")


def split(net: Network, new_prefix: int) -> list[Network]:
    """Every subnet of `net` with prefix length `new_prefix`."""
    fam = family(net)
    if not net.prefixlen <= new_prefix <= fam.bits:
        why = f"expected /{net.prefixlen}-/{fam.bits}"
        message = f"bad prefix length /{new_prefix} for splitting {net}: {why}"
        raise InvalidValue("prefix length", new_prefix, why, message=message)
    _check_listable(2 ** (new_prefix - net.prefixlen), f"splitting {net} into /{new_prefix}")
    return list(net.subnets(new_prefix=new_prefix))


def prefix_for_count(net: Network, count: int) -> int:
    """The longest prefix that splits `net` into at least `count` equal subnets."""
    if count < 1:
        raise _bad("count", count, "expected 1 or more subnets")
    fam = family(net)
    for extra in range(fam.bits - net.prefixlen + 1):
        if 2**extra >= count:
            return net.prefixlen + extra
    why = f"it has {net.num_addresses}"
    message = f"{net} cannot be split into {count} subnets: {why}"
    raise InvalidValue("count", count, why, message=message)


def prefix_for_hosts(hosts: int, fam: Family, point_to_point: bool = False) -> int:
    """The longest prefix whose subnets hold `hosts` usable hosts.

    Without `point_to_point`, /31 and /32 (/127 and /128) are not used, as in the classic
    VLSM exercise where a two-host link gets a /30.
    """
    if hosts < 1:
        raise _bad("host count", hosts, "expected 1 or more")
    for prefixlen in range(fam.bits, -1, -1):
        if not point_to_point and fam.is_point_to_point(prefixlen):
            continue
        if hosts_in_prefix(fam, prefixlen) >= hosts:
            return prefixlen
    raise _bad("host count", hosts, f"more than {fam.name} can address")


@dataclass(frozen=True, slots=True)
class Request:
    """One line of a VLSM plan: a name (may be empty) and the hosts it needs."""

    name: str
    hosts: int


@dataclass(frozen=True, slots=True)
class Allocation:
    request: Request
    index: int  # position of the request in the order given
    network: Network

    @property
    def waste(self) -> int:
        """Usable addresses the request does not need."""
        return usable_hosts(self.network) - self.request.hosts


@dataclass(frozen=True, slots=True)
class VlsmPlan:
    parent: Network
    allocations: tuple[Allocation, ...]  # in address order (largest first)
    free: tuple[Network, ...]

    @property
    def used_addresses(self) -> int:
        return sum(a.network.num_addresses for a in self.allocations)

    @property
    def waste(self) -> int:
        return sum(a.waste for a in self.allocations)

    def in_request_order(self) -> list[Allocation]:
        return sorted(self.allocations, key=lambda a: a.index)


def parse_requests(text: str) -> list[Request]:
    """`120,60,28,2` or `lan=120,dmz=60`: the host counts of a VLSM plan."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, eq, count = item.rpartition("=")
        if not re.fullmatch(r"[0-9]+", count.strip()):
            raise _bad("host count", item, "expected a number such as 120 or lan=120")
        out.append(Request(name=name.strip() if eq else "", hosts=int(count)))
    if not out:
        raise _bad("host counts", text, "none given")
    return out


def vlsm(parent: Network, requests: Sequence[Request], point_to_point: bool = False) -> VlsmPlan:
    """A variable-length plan: each request gets the smallest block holding its hosts, largest
    blocks first, packed from the start of `parent`; blocks of sizes that are powers of two
    placed in decreasing size are always aligned."""
    fam = family(parent)
    sized = [
        (prefix_for_hosts(req.hosts, fam, point_to_point), i, req) for i, req in enumerate(requests)
    ]
    sized.sort(key=lambda row: (row[0], row[1]))
    need = sum(2 ** (fam.bits - prefixlen) for prefixlen, _, _ in sized)
    if need > parent.num_addresses:
        wanted = ",".join(str(r.hosts) for r in requests)
        why = f"they need {need} addresses, it has {parent.num_addresses}"
        message = f"hosts {wanted} do not fit in {parent}: {why}"
        raise InvalidValue("hosts", wanted, why, message=message)
    allocations = []
    cursor = parent.network_address
    for prefixlen, i, req in sized:
        block = ip_network((cursor, prefixlen))
        allocations.append(Allocation(request=req, index=i, network=block))
        if block.broadcast_address != parent.broadcast_address:
            cursor = block.broadcast_address + 1
    used = [a.network for a in allocations]
    return VlsmPlan(parent=parent, allocations=tuple(allocations), free=tuple(free(parent, used)))


# ---------------------------------------------------------------------------------------------
# Sets of networks


def free(parent: Network, used: Iterable[Network]) -> list[Network]:
    """The space of `parent` not covered by `used`, as maximal CIDR blocks in address order.

    Used networks outside `parent` are ignored; one that contains `parent` leaves nothing.
    """
    inside = []
    for net in used:
        if net.version != parent.version or not net.overlaps(parent):  # type: ignore[arg-type]
            continue
        if parent.subnet_of(net):  # type: ignore[arg-type]
            return []
        inside.append(net)
    out: list[Network] = []
    cursor: Address | None = parent.network_address
    for net in collapse_addresses(inside):  # type: ignore[arg-type]
        if cursor is None:
            break
        if net.network_address > cursor:
            out.extend(summarize_address_range(cursor, net.network_address - 1))
        at_end = net.broadcast_address == parent.broadcast_address
        cursor = None if at_end else net.broadcast_address + 1
    if cursor is not None:
        out.extend(summarize_address_range(cursor, parent.broadcast_address))
    return out


def outside(parent: Network, used: Iterable[Network]) -> list[Network]:
    """The networks of `used` that share no address with `parent`."""
    return [
        n
        for n in used
        if n.version != parent.version or not n.overlaps(parent)  # type: ignore[arg-type]
    ]


def first_fit(blocks: Iterable[Network], prefixlen: int) -> Network | None:
    """The lowest-addressed block of size /prefixlen inside one of `blocks`, if any."""
    candidates = [b for b in blocks if b.prefixlen <= prefixlen]
    if not candidates:
        return None
    best = min(candidates, key=sort_key)
    return next(best.subnets(new_prefix=prefixlen))


def summarize(nets: Iterable[Network]) -> list[Network]:
    """The exact summary: the fewest CIDR blocks covering exactly the inputs (each family)."""
    nets = list(nets)
    out: list[Network] = []
    for version in FAMILIES:
        same = [n for n in nets if n.version == version]
        out.extend(collapse_addresses(same))  # type: ignore[arg-type]
    return out


def covering_supernet(nets: Sequence[Network]) -> Network:
    """The smallest single network containing every one of `nets` (all of one family)."""
    if not nets:
        raise InvalidValue("networks", "", "none given", message="no networks given")
    versions = {n.version for n in nets}
    if len(versions) > 1:
        why = "cannot cover IPv4 and IPv6 networks with one supernet"
        raise InvalidValue("networks", ", ".join(map(str, nets)), why, message=why)
    candidate = min(nets, key=sort_key)
    while not all(n.subnet_of(candidate) for n in nets):  # type: ignore[arg-type]
        candidate = candidate.supernet()
    return candidate


@dataclass(frozen=True, slots=True)
class Supernet:
    network: Network
    extra: tuple[Network, ...]  # space it claims beyond the inputs

    @property
    def extra_addresses(self) -> int:
        return sum(n.num_addresses for n in self.extra)


def supernets(nets: Sequence[Network]) -> list[Supernet]:
    """One covering supernet per family present, with the space it claims beyond `nets`."""
    out = []
    for version in FAMILIES:
        same = [n for n in nets if n.version == version]
        if same:
            sup = covering_supernet(same)
            out.append(Supernet(network=sup, extra=tuple(free(sup, same))))
    return out


@dataclass(frozen=True, slots=True)
class Overlap:
    outer: Network  # the larger of the two (CIDR blocks overlap only by nesting)
    inner: Network

    @property
    def relation(self) -> str:
        return "equal" if self.outer == self.inner else "contains"


def overlaps(nets: Iterable[Network]) -> list[Overlap]:
    """Every overlapping pair among `nets`, each once, in address order; a network given twice
    is one `equal` pair.

    Two CIDR blocks overlap only when one contains the other, so a sweep in address order with
    a stack of the blocks still open finds every pair in time proportional to the answer.
    """
    counts = Counter(nets)
    out = [Overlap(outer=n, inner=n) for n in sorted(counts, key=sort_key) if counts[n] > 1]
    open_blocks: list[Network] = []
    for net in sorted(counts, key=sort_key):
        while open_blocks and not (
            open_blocks[-1].version == net.version and net.subnet_of(open_blocks[-1])  # type: ignore[arg-type]
        ):
            open_blocks.pop()
        out.extend(Overlap(outer=o, inner=net) for o in open_blocks)
        open_blocks.append(net)
    return sorted(out, key=lambda o: (sort_key(o.outer), sort_key(o.inner)))


def address_range(first: Address, last: Address) -> list[Network]:
    """The CIDR blocks covering exactly FIRST..LAST."""
    why = ""
    if first.version != last.version:
        why = "the ends are of different families"
    elif first > last:
        why = "the first address is above the last"
    if why:
        value = f"{first} - {last}"
        raise InvalidValue("range", value, why, message=f"bad range {value}: {why}")
    return list(summarize_address_range(first, last))


def contains(net: Network, item: Address | Network) -> bool:
    if item.version != net.version:
        return False
    if isinstance(item, IPv4Network | IPv6Network):
        return item.subnet_of(net)  # type: ignore[arg-type]
    return item in net
