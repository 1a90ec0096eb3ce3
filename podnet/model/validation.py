"""The API server's value checks: names, labels, ports, addresses.

Each check returns the list of messages for one value (empty when valid), worded after
k8s.io/apimachinery's validation package.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from podnet.model.objects import PROTOCOLS, IPAddress, IPNetwork

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SVC_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")


@dataclass(frozen=True, slots=True)
class NameFormat:
    """A kind of name the API server checks: its longest length, then its form."""

    longest: int
    pattern: re.Pattern[str]
    form: str  # the message when the form is wrong

    def __call__(self, value: str) -> list[str]:
        errs = []
        if len(value) > self.longest:
            errs.append(f"must be no more than {self.longest} characters")
        if not self.pattern.match(value):
            errs.append(self.form)
        return errs


dns1123_label = NameFormat(
    63,
    _DNS1123_LABEL,
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-',"
    " and must start and end with an alphanumeric character",
)
dns1123_subdomain = NameFormat(
    253,
    _DNS1123_SUBDOMAIN,
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
    " '-' or '.', and must start and end with an alphanumeric character",
)
dns1035_label = NameFormat(
    63,
    _DNS1035_LABEL,
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-',"
    " start with an alphabetic character, and end with an alphanumeric character",
)
label_value = NameFormat(
    63,
    _LABEL_VALUE,
    "a valid label must be an empty string or consist of alphanumeric characters, '-',"
    " '_' or '.', and must start and end with an alphanumeric character",
)


def qualified_name(value: str) -> list[str]:
    """A label or annotation key: an optional DNS subdomain prefix, '/', and a name."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must"
            " start and end with an alphanumeric character, with an optional DNS subdomain prefix"
            " and '/' (e.g. 'example.com/MyName')"
        ]
    errs = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += [f"prefix part {m}" for m in dns1123_subdomain(prefix)]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.match(name):
        errs.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start"
            " and end with an alphanumeric character"
        )
    return errs


def port_name(value: str) -> list[str]:
    """IANA_SVC_NAME: 1-15 characters, [a-z0-9-], a letter somewhere, no '--', no '-' at ends."""
    errs = []
    if len(value) > 15:
        errs.append("must be no more than 15 characters")
    if not _SVC_NAME_CHARS.match(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not any("a" <= c <= "z" for c in value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens (-)")
    if value.startswith("-") or value.endswith("-"):
        errs.append("must not begin or end with a hyphen (-)")
    return errs


def port_number(value: int) -> list[str]:
    if not 1 <= value <= 65535:
        return ["must be between 1 and 65535, inclusive"]
    return []


def protocol(value: str) -> list[str]:
    if value not in PROTOCOLS:
        return ['supported values: "SCTP", "TCP", "UDP"']
    return []


def parse_ip(value: str) -> IPAddress | None:
    """An address as the API server reads it (no zone, no leading zeros), or None."""
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def parse_cidr(value: str, *, strict: bool = False) -> IPNetwork | None:
    """A CIDR written as address/prefix. Host bits are masked off unless `strict`."""
    if "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=strict)
    except ValueError:
        return None
