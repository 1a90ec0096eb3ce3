"""host-local IPAM, compatible with the reference plugin's configuration and on-disk format.

The allocator (`allocate`) is pure over the small `Store` interface; `FileStore` is the reference
layout: `<dataDir>/<network>/<ip>` holding `<containerID>\\r\\n<ifname>`, created with O_EXCL,
`last_reserved_ip.<rangeset index>`, and every change under an exclusive flock of `lock`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections import namedtuple
from collections.abc import Iterator

from podnet.cni import spec
from podnet.cni.spec import CniError
from podnet.family import family

TYPE_CHECKING = False  # importing typing costs milliseconds at every plugin start
if TYPE_CHECKING:
    from typing import Any, Protocol

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
LINE_BREAK = "\r\n"


class Range(namedtuple("Range", "subnet range_start range_end gateway")):
    # subnet: IPNetwork
    # range_start: IPAddress
    # range_end: IPAddress
    # gateway: IPAddress | None
    __slots__ = ()

    def __contains__(self, ip: IPAddress) -> bool:
        return ip.version == self.subnet.version and self.range_start <= ip <= self.range_end

    def __str__(self) -> str:
        return f"{self.range_start}-{self.range_end}"


RangeSet = tuple[Range, ...]


class IPAMConfig(namedtuple("IPAMConfig", "network data_dir range_sets routes dns requested")):
    # network: str
    # data_dir: str
    # range_sets: tuple[RangeSet, ...]
    # routes: tuple[spec.Route, ...]
    # dns: spec.DNS
    # requested: tuple[IPAddress, ...]
    __slots__ = ()


# --------------------------------------------------------------------------- configuration


def _address(value: Any, what: str) -> IPAddress:
    if not isinstance(value, str):
        raise CniError(spec.INVALID_CONFIG, f"{what} must be an IP address string")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise CniError(spec.INVALID_CONFIG, f"invalid {what} {value!r}") from None


def parse_range(data: Any) -> Range:
    """One range with the reference plugin's defaults and checks (Range.Canonicalize)."""
    if not isinstance(data, dict):
        raise CniError(spec.INVALID_CONFIG, "a range must be an object")
    text = data.get("subnet")
    if not isinstance(text, str):
        raise CniError(spec.INVALID_CONFIG, "a range needs a subnet")
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise CniError(spec.INVALID_CONFIG, f"invalid subnet {text!r}") from None
    subnet = iface.network
    if subnet.prefixlen > subnet.max_prefixlen - 2:
        raise CniError(spec.INVALID_CONFIG, f"Network {text} too small to allocate from")
    if iface.ip != subnet.network_address:
        raise CniError(
            spec.INVALID_CONFIG,
            f"Network has host bits set. For a subnet mask of length {subnet.prefixlen} the network address is {subnet.network_address}",
        )
    first = subnet.network_address + 1
    last = subnet.broadcast_address - (1 if family(subnet).broadcast else 0)

    def inside(key: str, default: IPAddress) -> IPAddress:
        if data.get(key) in (None, ""):
            return default
        ip = _address(data[key], key)
        if ip not in subnet:
            raise CniError(spec.INVALID_CONFIG, f"{key} {ip} not in network {subnet}")
        return ip

    gateway = inside("gateway", first)
    start = inside("rangeStart", first)
    end = inside("rangeEnd", last)
    if start > end:
        raise CniError(spec.INVALID_CONFIG, f"rangeStart {start} is after rangeEnd {end}")
    return Range(subnet, start, end, gateway)


def _overlaps(a: Range, b: Range) -> bool:
    return (
        a.subnet.version == b.subnet.version
        and a.range_start <= b.range_end
        and b.range_start <= a.range_end
    )


def parse_range_sets(ipam: dict[str, Any], runtime: dict[str, Any]) -> tuple[RangeSet, ...]:
    raw = runtime.get("ipRanges") or ipam.get("ranges") or []
    if not isinstance(raw, list):
        raise CniError(spec.INVALID_CONFIG, "ranges must be a list of lists of ranges")
    sets: list[RangeSet] = []
    if ipam.get("subnet"):
        sets.append(
            (
                parse_range(
                    {k: ipam.get(k) for k in ("subnet", "rangeStart", "rangeEnd", "gateway")}
                ),
            )
        )
    for item in raw:
        if not isinstance(item, list) or not item:
            raise CniError(
                spec.INVALID_CONFIG, "each entry of ranges must be a non-empty list of ranges"
            )
        sets.append(tuple(parse_range(r) for r in item))
    if not sets:
        raise CniError(spec.INVALID_CONFIG, "no IP ranges specified")
    flat = [(i, r) for i, s in enumerate(sets) for r in s]
    for x, (i, a) in enumerate(flat):
        for j, b in flat[x + 1 :]:
            if _overlaps(a, b):
                if i == j:
                    raise CniError(spec.INVALID_CONFIG, f"subnets {a} and {b} overlap")
                raise CniError(spec.INVALID_CONFIG, f"range set {i} overlaps with {j}")
    return tuple(sets)


def parse_resolv_conf(text: str) -> spec.DNS:
    dns = spec.DNS()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0].startswith(("#", ";")):
            continue
        key, rest = fields[0], fields[1:]
        if key == "nameserver":
            dns.nameservers.append(rest[0])
        elif key == "domain":
            dns.domain = rest[0]
        elif key == "search":
            dns.search.extend(rest)
        elif key == "options":
            dns.options.extend(rest)
    return dns


def requested_ips(conf: dict[str, Any], env: spec.Environment) -> tuple[IPAddress, ...]:
    """Addresses asked for by `CNI_ARGS IP=`, `args.cni.ips` or `runtimeConfig.ips`."""
    texts: list[str] = []
    ip_arg = env.arg("IP")
    if ip_arg:
        texts.extend(ip_arg.split(","))
    args = conf.get("args") or {}
    cni_args = args.get("cni") if isinstance(args, dict) else None
    if isinstance(cni_args, dict) and isinstance(cni_args.get("ips"), list):
        texts.extend(cni_args["ips"])
    runtime = spec.runtime_config(conf)
    if isinstance(runtime.get("ips"), list):
        texts.extend(runtime["ips"])
    out = []
    for text in texts:
        if not isinstance(text, str):
            raise CniError(spec.INVALID_CONFIG, "requested IPs must be strings")
        out.append(_address(text.split("/")[0].strip(), "requested IP"))
    return tuple(dict.fromkeys(out))


def parse_config(conf: dict[str, Any], env: spec.Environment, read_file: Any = None) -> IPAMConfig:
    network = spec.check_name(conf)
    ipam = conf.get("ipam")
    if not isinstance(ipam, dict):
        raise CniError(spec.INVALID_CONFIG, "IPAM config missing 'ipam' key")
    runtime = spec.runtime_config(conf)
    data_dir = spec.field_of(ipam, "dataDir", str, "") or DEFAULT_DATA_DIR
    routes = tuple(spec.parse_route(r) for r in spec.field_of(ipam, "routes", list, []))
    dns = spec.DNS()
    resolv = spec.field_of(ipam, "resolvConf", str, "")
    if resolv:
        reader = read_file or _read_text
        try:
            dns = parse_resolv_conf(reader(resolv))
        except OSError as err:
            raise CniError(
                spec.INVALID_CONFIG, f"could not read resolvConf {resolv}", str(err)
            ) from None
    return IPAMConfig(
        network=network,
        data_dir=data_dir,
        range_sets=parse_range_sets(ipam, runtime),
        routes=routes,
        dns=dns,
        requested=requested_ips(conf, env),
    )


def _read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


# --------------------------------------------------------------------------- allocator


if TYPE_CHECKING:

    class Store(Protocol):
        """Reservations of one network; every call is made with the store locked."""

        def reserve(self, container_id: str, ifname: str, ip: IPAddress, range_id: int) -> bool: ...
        def last_reserved(self, range_id: int) -> IPAddress | None: ...
        def reservations(self) -> list[tuple[IPAddress, str, str]]: ...
        def release(self, ip: IPAddress) -> None: ...


def range_iter(range_set: RangeSet, last: IPAddress | None) -> Iterator[tuple[Range, IPAddress]]:
    """Candidates in the reference plugin's round-robin order: after `last`, wrapping once,
    skipping each range's gateway."""
    start_index, cur = 0, None
    if last is not None:
        for i, r in enumerate(range_set):
            if last in r:
                start_index, cur = i, last
                break
    index = start_index
    r = range_set[index]
    if cur is None:
        cur = r.range_start
    elif cur == r.range_end:
        index = (index + 1) % len(range_set)
        r = range_set[index]
        cur = r.range_start
    else:
        cur = cur + 1
    first = (index, cur)
    while True:
        if cur != r.gateway:
            yield r, cur
        if cur == r.range_end:
            index = (index + 1) % len(range_set)
            r = range_set[index]
            cur = r.range_start
        else:
            cur = cur + 1
        if (index, cur) == first:
            return


def _range_set_text(range_set: RangeSet) -> str:
    return ",".join(str(r) for r in range_set)


def allocate(
    store: Store,
    range_set: RangeSet,
    range_id: int,
    container_id: str,
    ifname: str,
    requested: IPAddress | None = None,
) -> tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, IPAddress | None]:
    """Reserve one address of `range_set` for (container_id, ifname): the interface and gateway."""
    if requested is not None:
        for r in range_set:
            if requested in r:
                if requested == r.gateway:
                    raise CniError(
                        spec.INVALID_CONFIG, f"requested ip {requested} is subnet's gateway"
                    )
                if not store.reserve(container_id, ifname, requested, range_id):
                    raise CniError(
                        spec.INVALID_CONFIG,
                        f"requested IP address {requested} is not available in range set {_range_set_text(range_set)}",
                    )
                return ipaddress.ip_interface(f"{requested}/{r.subnet.prefixlen}"), r.gateway
        raise CniError(
            spec.INVALID_CONFIG,
            f"requested IP address {requested} is not in range set {_range_set_text(range_set)}",
        )
    for ip, cid, ifn in store.reservations():
        if cid == container_id.strip() and ifn == ifname and any(ip in r for r in range_set):
            raise CniError(
                spec.INVALID_CONFIG,
                f"{ip} has been allocated to {container_id}, duplicate allocation is not allowed",
            )
    last = store.last_reserved(range_id)
    for r, ip in range_iter(range_set, last):
        if store.reserve(container_id, ifname, ip, range_id):
            return ipaddress.ip_interface(f"{ip}/{r.subnet.prefixlen}"), r.gateway
    raise CniError(
        spec.INVALID_CONFIG, f"no IP addresses available in range set: {_range_set_text(range_set)}"
    )


def release(store: Store, container_id: str, ifname: str) -> list[IPAddress]:
    """Free every address of (container_id, ifname); files of the old id-only format as well."""
    held = store.reservations()
    cid = container_id.strip()
    freed = [ip for ip, c, i in held if c == cid and i == ifname]
    if not freed:
        freed = [ip for ip, c, i in held if c == cid and i == ""]
    for ip in freed:
        store.release(ip)
    return freed


def garbage_collect(store: Store, valid: set[tuple[str, str]]) -> list[IPAddress]:
    freed = [
        ip
        for ip, c, i in store.reservations()
        if (c, i) not in valid and not (i == "" and any(c == v for v, _ in valid))
    ]
    for ip in freed:
        store.release(ip)
    return freed


# --------------------------------------------------------------------------- file store


class FileStore:
    """The reference plugin's directory layout, locked with flock on `<dir>/lock`."""

    def __init__(self, data_dir: str, network: str):
        self.dir = os.path.join(data_dir, network)
        self._lock_fd = -1

    def __enter__(self) -> FileStore:
        import fcntl

        os.makedirs(self.dir, 0o755, exist_ok=True)
        self._lock_fd = os.open(os.path.join(self.dir, "lock"), os.O_RDONLY | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._lock_fd)  # closing drops the flock
        self._lock_fd = -1

    def reserve(self, container_id: str, ifname: str, ip: IPAddress, range_id: int) -> bool:
        try:
            fd = os.open(os.path.join(self.dir, str(ip)), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, (container_id.strip() + LINE_BREAK + ifname).encode())
        finally:
            os.close(fd)
        self._write(f"last_reserved_ip.{range_id}", str(ip))
        return True

    def _write(self, name: str, text: str) -> None:
        # Written in place, as the reference plugin does; readers hold the same lock.
        fd = os.open(os.path.join(self.dir, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    def last_reserved(self, range_id: int) -> IPAddress | None:
        try:
            with open(os.path.join(self.dir, f"last_reserved_ip.{range_id}")) as f:
                return ipaddress.ip_address(f.read().strip())
        except (OSError, ValueError):
            return None

    def reservations(self) -> list[tuple[IPAddress, str, str]]:
        out = []
        for name in os.listdir(self.dir):
            try:
                ip = ipaddress.ip_address(name)
            except ValueError:
                continue  # lock, last_reserved_ip.N, temporary files
            try:
                with open(os.path.join(self.dir, name), newline="") as f:
                    text = f.read()
            except OSError:
                continue
            cid, _, ifname = text.strip().partition(LINE_BREAK)
            out.append((ip, cid.strip(), ifname.strip()))
        return sorted(out, key=lambda t: (t[0].version, t[0]))

    def release(self, ip: IPAddress) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.dir, str(ip)))


# --------------------------------------------------------------------------- commands


def cmd_add(conf: dict[str, Any], env: spec.Environment, version: str) -> spec.Result:
    cfg = parse_config(conf, env)
    result = spec.Result(routes=list(cfg.routes), dns=cfg.dns)
    requested = list(cfg.requested)
    with FileStore(cfg.data_dir, cfg.network) as store:
        try:
            for range_id, range_set in enumerate(cfg.range_sets):
                want = next((ip for ip in requested if any(ip in r for r in range_set)), None)
                if want is not None:
                    requested.remove(want)
                iface, gateway = allocate(
                    store, range_set, range_id, env.container_id, env.ifname, want
                )
                result.ips.append(
                    spec.IPConfig(address=str(iface), gateway=str(gateway) if gateway else "")
                )
            if requested:
                raise CniError(
                    spec.INVALID_CONFIG,
                    f"requested IPs {[str(ip) for ip in requested]} were not allocated",
                )
        except BaseException:
            release(store, env.container_id, env.ifname)
            raise
    return result


def cmd_del(conf: dict[str, Any], env: spec.Environment) -> None:
    cfg = parse_config(conf, env)
    with FileStore(cfg.data_dir, cfg.network) as store:
        release(store, env.container_id, env.ifname)


def cmd_check(conf: dict[str, Any], env: spec.Environment) -> None:
    cfg = parse_config(conf, env)
    with FileStore(cfg.data_dir, cfg.network) as store:
        held = [
            ip for ip, c, i in store.reservations() if c == env.container_id and i == env.ifname
        ]
    if not held:
        raise CniError(
            spec.INTERNAL,
            f"host-local: Failed to find address added by container {env.container_id}",
        )


def cmd_gc(conf: dict[str, Any], env: spec.Environment) -> None:
    cfg = parse_config(conf, env)
    valid = spec.valid_attachments(conf)
    with FileStore(cfg.data_dir, cfg.network) as store:
        garbage_collect(store, valid)


def cmd_status(conf: dict[str, Any], env: spec.Environment) -> None:
    cfg = parse_config(conf, env)
    path = os.path.join(cfg.data_dir, cfg.network)
    probe = path if os.path.isdir(path) else cfg.data_dir
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.access(probe, os.W_OK):
        raise CniError(
            spec.PLUGIN_NOT_AVAILABLE, f"host-local: data directory {path} is not writable"
        )
