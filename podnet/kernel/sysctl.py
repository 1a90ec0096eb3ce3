"""Sysctls of the calling thread's network namespace, by their /proc/sys path.

Standard library only (the CNI plugin sets sysctls on its hot path). It must not choose values:
callers say which key and what value.
"""

from __future__ import annotations

ROOT = "/proc/sys/"


def write(key: str, value: str) -> None:
    """Set a sysctl (`net/ipv4/conf/eth0/proxy_arp`) of the current thread's network namespace."""
    with open(ROOT + key, "w") as f:
        f.write(value)


def read(key: str) -> str:
    """A sysctl's value, without the trailing newline."""
    with open(ROOT + key) as f:
        return f.read().rstrip("\n")
