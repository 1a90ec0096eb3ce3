"""`podnet dns PATH... NAME [TYPE]` and `podnet dns serve` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import pytest

from podnet.cli.dns import split_args
from podnet.errors import UsageError
from podnet.model.cluster import load_cluster
from tests.cli import SHOP, run


@pytest.fixture(scope="module")
def frontend() -> str:
    return next(p.key for p in load_cluster([SHOP]).pods if p.key.startswith("shop/frontend-"))


def test_walk_from_a_pod(capsys, monkeypatch, frontend: str) -> None:
    code, out, err = run(capsys, monkeypatch, "dns", SHOP, "cart", "--from", frontend)
    assert code == 0, err
    assert "search shop.svc.cluster.local svc.cluster.local cluster.local" in out
    assert "nameserver 10.96.0.10" in out
    lines = [line.split() for line in out.splitlines() if line[:3].strip().isdigit()]
    assert [(row[1], row[2], row[3]) for row in lines] == [
        ("cart.shop.svc.cluster.local.", "A", "answer"),
        ("cart.shop.svc.cluster.local.", "AAAA", "NODATA"),
    ]
    assert out.splitlines()[-1].startswith("result: cart.shop.svc.cluster.local. A 10.")


def test_json_walk(capsys, monkeypatch, frontend: str) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "dns", SHOP, "payments-api.payments", "--from", frontend, "-o", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["from"] == frontend
    assert data["outcome"] == "answer"
    assert [q["qname"] for q in data["queries"]] == [
        "payments-api.payments.shop.svc.cluster.local.",
        "payments-api.payments.shop.svc.cluster.local.",
        "payments-api.payments.svc.cluster.local.",
        "payments-api.payments.svc.cluster.local.",
    ]
    assert data["resolv_conf"]["options"] == ["ndots:5"]
    assert len(data["addresses"]) == 1


def test_outside_names_go_upstream(capsys, monkeypatch, frontend: str) -> None:
    code, out, _ = run(capsys, monkeypatch, "dns", SHOP, "example.com", "--from", frontend)
    assert code == 0
    assert out.count("NXDOMAIN") == 6 and out.count("upstream") >= 2
    assert "the upstream resolver answers example.com." in out


def test_direct_query_with_a_type(capsys, monkeypatch) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "dns", SHOP, "_postgres._tcp.db.shop.svc.cluster.local", "SRV"
    )
    assert code == 0
    assert "SRV 0 50 5432 db-0.db.shop.svc.cluster.local." in out
    assert "SRV 0 50 5432 db-1.db.shop.svc.cluster.local." in out


def test_an_ip_address_is_a_reverse_lookup(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, "dns", "query", SHOP, "10.96.0.10", "-o", "json")
    assert code == 0
    data = json.loads(out)
    assert data["queries"][0]["qname"] == "10.0.96.10.in-addr.arpa."
    assert data["queries"][0]["answer"]["answer"] == [
        "10.0.96.10.in-addr.arpa. 30 IN PTR kube-dns.kube-system.svc.cluster.local."
    ]


def test_negative_answers(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, "dns", SHOP, "nosuch.shop.svc.cluster.local")
    assert code == 0 and "NXDOMAIN: no such name" in out
    code, out, _ = run(capsys, monkeypatch, "dns", SHOP, "cart.shop.svc.cluster.local", "AAAA")
    assert code == 0 and "NODATA" in out


def test_stdin_manifests(capsys, monkeypatch) -> None:
    manifest = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
        "spec: {selector: {app: web}, ports: [{port: 80}]}\n"
    )
    code, out, err = run(
        capsys, monkeypatch, "dns", "-", "web.default.svc.cluster.local", stdin=manifest
    )
    assert code == 0, err
    assert "answer" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dns", SHOP], "give manifest paths, then the name"),
        (["dns", SHOP, "web", "--from", "shop/nope"], "no such pod"),
        (["dns", SHOP, "a..b"], "not a valid DNS name"),
        (["dns", "serve", SHOP, "--listen", "localhost"], "not an IP address"),
    ],
)
def test_usage_errors(capsys, monkeypatch, args: list[str], message: str) -> None:
    code, _, err = run(capsys, monkeypatch, *args)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_split_args(tmp_path) -> None:
    manifest = tmp_path / "a"
    manifest.write_text("")
    assert split_args([SHOP, "web"]) == ([SHOP], "web", None)
    assert split_args([SHOP, "web", "srv"]) == ([SHOP], "web", "SRV")
    # A last argument that reads as a type is the name when a path comes before it.
    assert split_args([SHOP, str(manifest), "a"]) == ([SHOP, str(manifest)], "a", None)
    with pytest.raises(UsageError):
        split_args([SHOP])


def test_serve_with_two_workers() -> None:
    """`podnet dns serve` in its own process: answers over UDP and TCP, stops on SIGTERM."""
    podnet = Path(sys.executable).with_name("podnet")
    proc = subprocess.Popen(
        [str(podnet), "dns", "serve", SHOP, "--listen", "127.0.0.1:0", "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "serving cluster.local, in-addr.arpa, ip6.arpa on 127.0.0.1:" in line, line
        port = int(line.split(" on 127.0.0.1:")[1].split()[0])
        q = dns.message.make_query("kube-dns.kube-system.svc.cluster.local.", "A")
        deadline = time.monotonic() + 10
        for _ in range(20):  # several source ports: both workers get some
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
            assert r.answer[0][0].to_text() == "10.96.0.10"
        r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=2)
        assert r.answer[0][0].to_text() == "10.96.0.10"
        assert time.monotonic() < deadline
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
