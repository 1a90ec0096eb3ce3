"""The CNI protocol (specification 1.1.0): environment, configuration, versions, results, errors.

Pure: reads strings and dicts, returns values; never touches the kernel, the disk or a process.
Everything here is imported on the plugin's hot path, so it imports only the standard library.
"""

from __future__ import annotations

import ipaddress
from collections import namedtuple

from podnet.cni import jsonc as json

TYPE_CHECKING = False  # importing typing costs milliseconds at every plugin start
if TYPE_CHECKING:
    from typing import Any

SUPPORTED_VERSIONS = ("0.4.0", "1.0.0", "1.1.0")
LATEST = "1.1.0"
COMMANDS = ("ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION")

# Error codes of the specification (section "Error").
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
CONTAINER_UNKNOWN = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODING_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
PLUGIN_NOT_AVAILABLE = 50
PLUGIN_NOT_AVAILABLE_LIMITED = 51
INTERNAL = 999  # what the reference plugins report for an error without a code of its own

_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")


def valid_name(value: str) -> bool:
    """`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`, the pattern of network names and container IDs."""
    return bool(value) and value[0] in _NAME_FIRST and all(c in _NAME_REST for c in value)


class CniError(Exception):
    """An error the plugin reports as the specification's error JSON."""

    def __init__(self, code: int, msg: str, details: str = ""):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self, version: str = LATEST) -> dict[str, Any]:
        out: dict[str, Any] = {"cniVersion": version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out


def version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (-1,)


# --------------------------------------------------------------------------- environment


class Environment(
    namedtuple(
        "Environment", "command container_id netns ifname args path", defaults=("", "", "", (), ())
    )
):
    """The CNI_* variables of one invocation: command, container_id, netns, ifname, args (pairs), path."""

    __slots__ = ()

    def arg(self, key: str) -> str | None:
        for k, v in self.args:
            if k == key:
                return v
        return None


_REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": ("CNI_PATH",),
    "STATUS": (),
    "VERSION": (),
}


def parse_cni_args(text: str) -> tuple[tuple[str, str], ...]:
    """`K=V;K2=V2` as pairs; a pair without `=` is an error, as in the reference plugins."""
    pairs = []
    for item in text.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise CniError(INVALID_ENVIRONMENT, f"invalid CNI_ARGS pair {item!r}")
        pairs.append((key, value))
    return tuple(pairs)


def validate_container_id(value: str) -> None:
    if not value:
        raise CniError(INVALID_ENVIRONMENT, "missing containerID")
    if not valid_name(value):
        raise CniError(INVALID_ENVIRONMENT, "invalid characters in containerID", value)


def validate_ifname(value: str) -> None:
    # The kernel's dev_valid_name: at most 15 bytes, not "." or "..", no '/', ':' or whitespace.
    if not value:
        raise CniError(INVALID_ENVIRONMENT, "interface name is empty")
    if len(value.encode()) > 15:
        raise CniError(
            INVALID_ENVIRONMENT,
            "interface name is too long",
            "interface name should be less than 16 characters",
        )
    if value in (".", ".."):
        raise CniError(INVALID_ENVIRONMENT, "interface name is . or ..")
    for ch in value:
        if ch in "/:" or ch.isspace():
            raise CniError(
                INVALID_ENVIRONMENT, f"interface name contains an invalid character {ch!r}", value
            )


def parse_environment(env: dict[str, str]) -> Environment:
    """The invocation's variables, checked against what its command requires (error code 4)."""
    command = env.get("CNI_COMMAND", "")
    if not command:
        raise CniError(INVALID_ENVIRONMENT, "required env variables [CNI_COMMAND] missing")
    if command not in COMMANDS:
        raise CniError(INVALID_ENVIRONMENT, f"unknown CNI_COMMAND: {command}")
    missing = [name for name in _REQUIRED[command] if not env.get(name)]
    if missing:
        raise CniError(INVALID_ENVIRONMENT, f"required env variables [{','.join(missing)}] missing")
    container_id = env.get("CNI_CONTAINERID", "")
    ifname = env.get("CNI_IFNAME", "")
    if command in ("ADD", "CHECK", "DEL"):
        validate_container_id(container_id)
        validate_ifname(ifname)
    path = tuple(p for p in env.get("CNI_PATH", "").split(":") if p)
    return Environment(
        command=command,
        container_id=container_id,
        netns=env.get("CNI_NETNS", ""),
        ifname=ifname,
        args=parse_cni_args(env.get("CNI_ARGS", "")),
        path=path,
    )


# --------------------------------------------------------------------------- configuration


def decode_config(data: bytes | str) -> dict[str, Any]:
    """stdin as a JSON object (error code 6 otherwise)."""
    try:
        conf = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise CniError(DECODING_FAILURE, "error decoding network configuration", str(err)) from None
    if not isinstance(conf, dict):
        raise CniError(
            DECODING_FAILURE, "error decoding network configuration", "not a JSON object"
        )
    return conf


def choose_version(conf: dict[str, Any], supported: tuple[str, ...] = SUPPORTED_VERSIONS) -> str:
    """The version a configuration speaks: the highest of `cniVersions` we support, else `cniVersion`.

    A configuration without either is version 0.1.0, as libcni decodes it (hence code 1, not 7).
    """
    versions = conf.get("cniVersions")
    if versions is not None:
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            raise CniError(DECODING_FAILURE, "cniVersions must be a list of strings")
        usable = [v for v in versions if v in supported]
        if usable:
            return max(usable, key=version_key)
    version = conf.get("cniVersion", "0.1.0")
    if not isinstance(version, str):
        raise CniError(DECODING_FAILURE, "cniVersion must be a string")
    if version not in supported:
        raise CniError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f'config is "{version}", plugin supports {json.dumps(list(supported))}',
        )
    return version


def check_name(conf: dict[str, Any]) -> str:
    name = conf.get("name")
    if not isinstance(name, str) or not name:
        raise CniError(INVALID_CONFIG, "missing network name")
    if not valid_name(name):
        raise CniError(INVALID_CONFIG, f"invalid network name {name!r}")
    return name


def plugin_type(conf: dict[str, Any]) -> str:
    kind = conf.get("type")
    if not isinstance(kind, str) or not kind:
        raise CniError(INVALID_CONFIG, "missing plugin type")
    return kind


def field_of(
    conf: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None
) -> Any:
    """conf[key] of the given JSON type, or default when absent (code 7 on a wrong type)."""
    value = conf.get(key, default)
    if value is None:
        return default
    if kind is int and isinstance(value, bool):
        raise CniError(INVALID_CONFIG, f"{key} must be an integer")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise CniError(INVALID_CONFIG, f"{key} must be of type {names}, not {type(value).__name__}")
    return value


def expand_list(
    conflist: dict[str, Any], runtime_args: dict[str, Any] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """A configuration list as the runtime hands it to each plugin.

    Each plugin gets the list's `name` and chosen `cniVersion`, a `runtimeConfig` holding the
    capabilities it declared that the runtime supplies, and no `capabilities`. `prevResult` is
    added per invocation by the runtime (see `with_prev_result`).
    """
    name = check_name(conflist)
    version = choose_version(conflist)
    plugins = conflist.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise CniError(INVALID_CONFIG, "configuration list has no plugins")
    out = []
    runtime_args = runtime_args or {}
    for index, plugin in enumerate(plugins):
        if not isinstance(plugin, dict):
            raise CniError(INVALID_CONFIG, f"plugins[{index}] is not an object")
        plugin_type(plugin)
        conf = {k: v for k, v in plugin.items() if k != "capabilities"}
        conf["name"] = name
        conf["cniVersion"] = version
        caps = plugin.get("capabilities") or {}
        runtime = {k: v for k, v in runtime_args.items() if caps.get(k)}
        if runtime:
            conf["runtimeConfig"] = runtime
        out.append(conf)
    return version, out


def with_prev_result(conf: dict[str, Any], result: dict[str, Any] | None) -> bytes:
    out = dict(conf)
    if result is not None:
        out["prevResult"] = result
    return json.dumps(out).encode()


# --------------------------------------------------------------------------- results


class _Record:
    """Equality and repr from __slots__ (dataclasses cost milliseconds to import)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"


class Interface(_Record):
    __slots__ = ("name", "mac", "mtu", "sandbox", "socket_path", "pci_id")

    def __init__(
        self,
        name: str,
        mac: str = "",
        mtu: int = 0,
        sandbox: str = "",
        socket_path: str = "",
        pci_id: str = "",
    ):
        self.name, self.mac, self.mtu, self.sandbox = name, mac, mtu, sandbox
        self.socket_path, self.pci_id = socket_path, pci_id


class IPConfig(_Record):
    __slots__ = ("address", "gateway", "interface")

    def __init__(self, address: str, gateway: str = "", interface: int | None = None):
        self.address = address  # CIDR: the address with its subnet's prefix length
        self.gateway = gateway
        self.interface = interface

    @property
    def interface_address(self) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        return ipaddress.ip_interface(self.address)


class Route(_Record):
    __slots__ = ("dst", "gw", "mtu", "advmss", "priority", "table", "scope")

    def __init__(
        self,
        dst: str,
        gw: str = "",
        mtu: int = 0,
        advmss: int = 0,
        priority: int = 0,
        table: int = 0,
        scope: int | None = None,
    ):
        self.dst, self.gw, self.mtu, self.advmss = dst, gw, mtu, advmss
        self.priority, self.table, self.scope = priority, table, scope


class DNS(_Record):
    __slots__ = ("nameservers", "domain", "search", "options")

    def __init__(
        self,
        nameservers: list[str] | None = None,
        domain: str = "",
        search: list[str] | None = None,
        options: list[str] | None = None,
    ):
        self.nameservers = nameservers or []
        self.domain = domain
        self.search = search or []
        self.options = options or []

    def is_empty(self) -> bool:
        return not (self.nameservers or self.domain or self.search or self.options)


class Result(_Record):
    """An ADD result in the current (1.x) shape; `to_json` writes any supported version."""

    __slots__ = ("interfaces", "ips", "routes", "dns")

    def __init__(
        self,
        interfaces: list[Interface] | None = None,
        ips: list[IPConfig] | None = None,
        routes: list[Route] | None = None,
        dns: DNS | None = None,
    ):
        self.interfaces = interfaces or []
        self.ips = ips or []
        self.routes = routes or []
        self.dns = dns or DNS()

    def to_json(self, version: str) -> dict[str, Any]:
        v11 = version_key(version) >= (1, 1, 0)
        v1 = version_key(version) >= (1, 0, 0)
        out: dict[str, Any] = {"cniVersion": version}
        if self.interfaces:
            out["interfaces"] = [_interface_json(i, v11) for i in self.interfaces]
        if self.ips:
            ips = []
            for ip in self.ips:
                entry: dict[str, Any] = {}
                if not v1:
                    entry["version"] = str(ip.interface_address.version)
                if ip.interface is not None:
                    entry["interface"] = ip.interface
                entry["address"] = ip.address
                if ip.gateway:
                    entry["gateway"] = ip.gateway
                ips.append(entry)
            out["ips"] = ips
        if self.routes:
            out["routes"] = [_route_json(r, v11) for r in self.routes]
        out["dns"] = _dns_json(self.dns)
        return out


def _interface_json(i: Interface, v11: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": i.name}
    if i.mac:
        out["mac"] = i.mac
    if i.mtu and v11:
        out["mtu"] = i.mtu
    if i.sandbox:
        out["sandbox"] = i.sandbox
    if v11 and i.socket_path:
        out["socketPath"] = i.socket_path
    if v11 and i.pci_id:
        out["pciID"] = i.pci_id
    return out


def _route_json(r: Route, v11: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"dst": r.dst}
    if r.gw:
        out["gw"] = r.gw
    if v11:
        for key, value in (
            ("mtu", r.mtu),
            ("advmss", r.advmss),
            ("priority", r.priority),
            ("table", r.table),
        ):
            if value:
                out[key] = value
        if r.scope is not None:
            out["scope"] = r.scope
    return out


def _dns_json(d: DNS) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.nameservers:
        out["nameservers"] = list(d.nameservers)
    if d.domain:
        out["domain"] = d.domain
    if d.search:
        out["search"] = list(d.search)
    if d.options:
        out["options"] = list(d.options)
    return out


def _cidr(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise CniError(DECODING_FAILURE, f"{what} must be a CIDR string")
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        raise CniError(DECODING_FAILURE, f"invalid {what} {value!r}") from None
    return value


def _ip(value: Any, what: str) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise CniError(DECODING_FAILURE, f"{what} must be an IP address string")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise CniError(DECODING_FAILURE, f"invalid {what} {value!r}") from None
    return value


def _int(value: Any, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise CniError(DECODING_FAILURE, f"{what} must be an integer")
    return value


def parse_dns(data: Any) -> DNS:
    if data in (None, {}):
        return DNS()
    if not isinstance(data, dict):
        raise CniError(DECODING_FAILURE, "dns must be an object")

    def strings(key: str) -> list[str]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise CniError(DECODING_FAILURE, f"dns.{key} must be a list of strings")
        return list(value)

    domain = data.get("domain") or ""
    if not isinstance(domain, str):
        raise CniError(DECODING_FAILURE, "dns.domain must be a string")
    return DNS(strings("nameservers"), domain, strings("search"), strings("options"))


def parse_route(data: Any) -> Route:
    if not isinstance(data, dict):
        raise CniError(DECODING_FAILURE, "a route must be an object")
    dst = _cidr(data.get("dst"), "route dst")
    scope = data.get("scope")
    return Route(
        dst=str(ipaddress.ip_network(dst, strict=False)),
        gw=_ip(data.get("gw"), "route gw"),
        mtu=_int(data.get("mtu"), "route mtu"),
        advmss=_int(data.get("advmss"), "route advmss"),
        priority=_int(data.get("priority"), "route priority"),
        table=_int(data.get("table"), "route table"),
        scope=None if scope is None else _int(scope, "route scope"),
    )


def parse_result(data: Any) -> Result:
    """A result of any supported version (0.4.0 `version` keys are accepted and dropped)."""
    if not isinstance(data, dict):
        raise CniError(DECODING_FAILURE, "prevResult must be an object")
    version = data.get("cniVersion", LATEST)
    if version not in SUPPORTED_VERSIONS:
        raise CniError(INCOMPATIBLE_VERSION, f"unsupported prevResult version {version!r}")
    result = Result()
    for item in data.get("interfaces") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise CniError(DECODING_FAILURE, "an interface needs a name")
        result.interfaces.append(
            Interface(
                name=item["name"],
                mac=item.get("mac") or "",
                mtu=_int(item.get("mtu"), "interface mtu"),
                sandbox=item.get("sandbox") or "",
                socket_path=item.get("socketPath") or "",
                pci_id=item.get("pciID") or "",
            )
        )
    for item in data.get("ips") or []:
        if not isinstance(item, dict):
            raise CniError(DECODING_FAILURE, "an ips entry must be an object")
        index = item.get("interface")
        if index is not None:
            index = _int(index, "ips interface")
            if not 0 <= index < len(result.interfaces):
                raise CniError(DECODING_FAILURE, f"ips interface index {index} out of range")
        result.ips.append(
            IPConfig(
                address=_cidr(item.get("address"), "ips address"),
                gateway=_ip(item.get("gateway"), "ips gateway"),
                interface=index,
            )
        )
    result.routes = [parse_route(r) for r in data.get("routes") or []]
    result.dns = parse_dns(data.get("dns"))
    return result


def prev_result(conf: dict[str, Any]) -> Result | None:
    data = conf.get("prevResult")
    if data is None or data == {}:
        return None
    return parse_result(data)


def runtime_config(conf: dict[str, Any]) -> dict[str, Any]:
    value = conf.get("runtimeConfig") or {}
    if not isinstance(value, dict):
        raise CniError(INVALID_CONFIG, "runtimeConfig must be an object")
    return value


def valid_attachments(conf: dict[str, Any]) -> set[tuple[str, str]]:
    """GC's `cni.dev/valid-attachments` as (containerID, ifname) pairs."""
    items = conf.get("cni.dev/valid-attachments")
    if items is None:
        return set()
    if not isinstance(items, list):
        raise CniError(INVALID_CONFIG, "cni.dev/valid-attachments must be a list")
    out = set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("containerID"), str):
            raise CniError(INVALID_CONFIG, "a valid attachment needs a containerID")
        out.add((item["containerID"], str(item.get("ifname", ""))))
    return out


def version_output(
    version: str = LATEST, supported: tuple[str, ...] = SUPPORTED_VERSIONS
) -> dict[str, Any]:
    return {"cniVersion": version, "supportedVersions": list(supported)}
