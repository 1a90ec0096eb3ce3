"""kube-proxy's IPVS mode in the configuration: `kubeProxyMode: ipvs` (ClusterNetwork and kind) and
the `ipvs` settings as kube-proxy's KubeProxyIPVSConfiguration reads them (its validation cases are
in tests/test_validation.py)."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
import yaml

from podnet.model.cluster import cluster_from_text
from podnet.model.config import IPVSConfig, ProxyMode, parse_duration
from tests.test_validation import cluster_network, kind_cluster


def _config(doc: dict):  # type: ignore[no-untyped-def]
    return cluster_from_text(yaml.safe_dump(doc), "cluster.yaml").config


# Go's time.ParseDuration, which metav1.Duration decodes with: (text, nanoseconds or None).
DURATIONS = [
    ("0", 0),
    ("0s", 0),
    ("-0", 0),
    ("900s", 900 * 10**9),
    ("15m", 900 * 10**9),
    ("1h30m", 5400 * 10**9),
    ("1.5h", 5400 * 10**9),
    (".5s", 5 * 10**8),
    ("1.s", 10**9),
    ("+2m", 120 * 10**9),
    ("-1s", -(10**9)),
    ("300ms", 3 * 10**8),
    ("10us", 10**4),
    ("10µs", 10**4),
    ("7ns", 7),
    ("2562047h", 2562047 * 3600 * 10**9),
    ("2562048h", None),  # beyond an int64 of nanoseconds
    ("", None),
    ("15", None),
    ("s", None),
    (".s", None),
    ("1d", None),
    ("1h-30m", None),
    ("1 h", None),
]


@pytest.mark.parametrize(("text", "ns"), DURATIONS, ids=[repr(t) for t, _ in DURATIONS])
def test_parse_duration_as_go(text: str, ns: int | None) -> None:
    assert parse_duration(text) == ns


def test_ipvs_settings_are_read() -> None:
    config = _config(
        cluster_network(
            kubeProxyMode="ipvs",
            ipvs={
                "scheduler": "wlc",
                "strictARP": True,
                "tcpTimeout": "15m",
                "tcpFinTimeout": "1.9s",  # IPVS counts whole seconds
                "udpTimeout": "5m",
                "excludeCIDRs": "10.0.0.7/24,fd00::/64",
            },
        )
    )
    assert config.kube_proxy_mode == ProxyMode.ipvs
    assert config.ipvs == IPVSConfig(
        scheduler="wlc",
        strict_arp=True,
        tcp_timeout=900,
        tcp_fin_timeout=1,
        udp_timeout=300,
        exclude_cidrs=(ip_network("10.0.0.0/24"), ip_network("fd00::/64")),
    )


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ({"kubeProxyMode": "ipvs"}, IPVSConfig()),
        ({"kubeProxyMode": "ipvs", "ipvs": None}, IPVSConfig()),
        ({"kubeProxyMode": "ipvs", "ipvs": {}}, IPVSConfig()),
        ({"kubeProxyMode": "ipvs", "ipvs": {"scheduler": ""}}, IPVSConfig(scheduler="rr")),
        # kube-proxy ignores them in another mode; podnet keeps them for `--mode ipvs`
        ({"ipvs": {"scheduler": "sh"}}, IPVSConfig(scheduler="sh")),
    ],
    ids=["absent", "null", "empty", "empty scheduler", "nftables mode"],
)
def test_ipvs_defaults(spec: dict, want: IPVSConfig) -> None:
    config = _config(cluster_network(**spec))
    assert config.ipvs == want
    assert IPVSConfig().scheduler == "rr"


def test_kind_kube_proxy_mode_ipvs() -> None:
    config = _config(kind_cluster(networking={"kubeProxyMode": "ipvs"}))
    assert (config.kube_proxy_mode, config.ipvs) == (ProxyMode.ipvs, IPVSConfig())
