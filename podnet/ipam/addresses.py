"""Address values: the address types, and "IP:port" as a value (`HostPort`) with the one parser
of its text, instead of strings joined and split again.

Every layer above ipam may import this module: it depends on the standard library, the error
tree and `podnet.family` only (never on the model).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
)

from podnet.errors import InvalidValue
from podnet.family import FAMILIES, Family

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
IPInterface = IPv4Interface | IPv6Interface


PORT_MAX = 65535


def join_host_port(host: str, port: int) -> str:
    """`host:port`, with an IPv6 address in brackets (`[fd00::5]:8080`), as Go's
    net.JoinHostPort writes it: the form of every "IP:port" podnet shows."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bad_address(text: str, why: str) -> InvalidValue:
    return InvalidValue("address", text, why, message=f"{text!r}: {why}")


def split_host_port(text: str, lowest_port: int = 1) -> tuple[str, int | None]:
    """`host`, `host:port` or `[host]:port` as (host, port or None). The host is not checked (a
    caller may take names); a host with several colons and no brackets is an IPv6 address
    without a port. Raises InvalidValue("address", text, why)."""
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise _bad_address(text, "expected IP, IP:port or [IPv6]:port")
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if port is None:
        return host, None
    if not port.isdigit() or not lowest_port <= int(port) <= PORT_MAX:
        raise _bad_address(text, f"the port must be a number from {lowest_port} to {PORT_MAX}")
    return host, int(port)


@dataclass(frozen=True, slots=True)
class HostPort:
    """An IP address and a port: one end of a connection, or where a server listens."""

    ip: IPAddress
    port: int

    @classmethod
    def parse(cls, text: str, default_port: int | None = None, lowest_port: int = 1) -> HostPort:
        """`IP`, `IP:port` or `[IPv6]:port`; the port is `default_port` when not given (and
        required when that is None). Raises InvalidValue("address", text, why)."""
        host, port = split_host_port(text, lowest_port)
        try:
            ip = ip_address(host)
        except ValueError:
            raise _bad_address(text, f"{host!r} is not an IP address") from None
        if port is None:
            if default_port is None:
                raise _bad_address(text, "expected IP:port or [IPv6]:port")
            port = default_port
        return cls(ip, port)

    @property
    def family(self) -> Family:
        return FAMILIES[self.ip.version]

    def __str__(self) -> str:
        return join_host_port(str(self.ip), self.port)
