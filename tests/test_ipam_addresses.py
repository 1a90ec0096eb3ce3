"""HostPort: the one way podnet writes and reads "IP:port"."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from podnet.errors import InvalidValue
from podnet.family import IPV4, IPV6
from podnet.ipam.addresses import HostPort, split_host_port


@pytest.mark.parametrize(
    ("text", "ip", "port"),
    [
        ("10.244.2.5:8080", "10.244.2.5", 8080),
        ("[fd00::5]:8080", "fd00::5", 8080),
    ],
)
def test_parse_and_str_round_trip(text: str, ip: str, port: int) -> None:
    hp = HostPort.parse(text)
    assert hp == HostPort(ip_address(ip), port)
    assert str(hp) == text


def test_default_port_and_family() -> None:
    assert HostPort.parse("fd00::5", 53) == HostPort(ip_address("fd00::5"), 53)
    assert HostPort.parse("[fd00::5]", 53).family is IPV6
    assert HostPort.parse("10.0.0.1", 53).family is IPV4


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("10.0.0.1", "expected IP:port or [IPv6]:port"),
        ("localhost:53", "'localhost' is not an IP address"),
        ("10.0.0.1:x", "the port must be a number from 1 to 65535"),
        ("10.0.0.1:0", "the port must be a number from 1 to 65535"),
        ("10.0.0.1:65536", "the port must be a number from 1 to 65535"),
        ("[::1]x", "expected IP, IP:port or [IPv6]:port"),
    ],
)
def test_parse_errors(text: str, why: str) -> None:
    with pytest.raises(InvalidValue) as err:
        HostPort.parse(text)
    assert (err.value.field, err.value.value, err.value.why) == ("address", text, why)


def test_split_takes_names_and_bare_ipv6() -> None:
    assert split_host_port("app/web:80") == ("app/web", 80)
    assert split_host_port("node-1") == ("node-1", None)
    assert split_host_port("fd00::5") == ("fd00::5", None)
    assert split_host_port("10.0.0.1:0", lowest_port=0) == ("10.0.0.1", 0)
