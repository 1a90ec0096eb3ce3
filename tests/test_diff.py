"""`podnet diff`: pairs of manifests with the rows written by hand from the NetworkPolicy
specification; random pairs against two `reach` runs aggregated by workload; `REF:PATH` read from
a temporary git repository; exit status and the three formats."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podnet.model.cluster import resolve
from podnet.model.objects import Namespace, NetworkPolicy, Pod
from podnet.model.parse import Manifests, Workload
from podnet.model.selectors import LabelSelector
from podnet.policy.diff import compare
from podnet.policy.engine import reach
from podnet.report.diff import to_text
from tests.cli import run
from tests.test_policy_engine import NAMESPACES, container_port, labels, rule, selector

DATA = Path(__file__).resolve().parent / "data" / "diff"


def rows(out: str) -> set[tuple]:
    return {
        (c["from"], c["from_kind"], c["to"], c["to_kind"], c["port"], c["protocol"],
         c["before"], c["after"])
        for c in json.loads(out)["changes"]
    }  # fmt: skip


# (case, expected rows: from, from_kind, to, to_kind, port, protocol, before, after), written
# from the specification:
CASES = [
    # The db's ingress rule narrows from `podSelector: {}` (every pod of its namespace) to
    # app=api: frontend loses 5432; api keeps it; nothing else selects a pod.
    (
        "tightened",
        {("web/frontend", "Deployment", "web/db", "StatefulSet", 5432, "TCP", "allowed", "denied")},
    ),
    # `namespaceSelector: team=shop` stops matching clients once its label is team=other; the
    # rule has no ports, so every port api declares (80) closes.
    (
        "nslabel",
        {("clients/app", "Deployment", "server/api", "Deployment", 80, "TCP", "allowed", "denied")},
    ),
    # Deployment web becomes frontend with the same labels: the policies select it as before,
    # so its connection to db moves to the new name; web's own pairs (denied by default-deny)
    # and the absent ones are no change.
    (
        "renamed",
        {
            ("x/frontend", "Deployment", "x/db", "StatefulSet", 5432, "TCP", "absent", "allowed"),
            ("x/web", "Deployment", "x/db", "StatefulSet", 5432, "TCP", "allowed", "absent"),
        },
    ),
    # Service web now selects green, whose ingress is isolated with no rule: every client of
    # the Service (client, and the cluster's CoreDNS pods, in no isolated namespace) loses it;
    # green's own pod reaching itself through the Service is no verdict.
    (
        "selector",
        {
            ("s/client", "Deployment", "s/web", "Service", 80, "TCP", "allowed", "denied"),
            (
                "kube-system/coredns",
                "Deployment",
                "s/web",
                "Service",
                80,
                "TCP",
                "allowed",
                "denied",
            ),
        },
    ),  # fmt: skip
]


def test_hand_written_cases(capsys, monkeypatch):
    for case, expected in CASES:
        old, new = str(DATA / case / "old"), str(DATA / case / "new")
        code, out, err = run(capsys, monkeypatch, "diff", old, new, "-o", "json")
        assert (code, err) == (1, ""), case
        assert rows(out) == expected, case


def test_reasons_name_the_rule(capsys, monkeypatch):
    def reasons(case: str) -> list[str]:
        old, new = str(DATA / case / "old"), str(DATA / case / "new")
        _, out, _ = run(capsys, monkeypatch, "diff", old, new, "-o", "json")
        return [c["reason"] for c in json.loads(out)["changes"]]

    # closed: the rule of the OLD side that no longer matches
    assert reasons("tightened") == [
        "ingress: web/db spec.ingress[0] (from[0] podSelector {}; ports[0] TCP/postgres)"
        " no longer matches (isolated by web/db)"
    ]
    # opened: the rules of the NEW side that allow it, per direction
    opened, closed = reasons("renamed")
    assert "egress allowed by x/web-to-db spec.egress[0]" in opened
    assert "ingress allowed by x/db-from-web spec.ingress[0]" in opened
    assert opened.startswith("Deployment x/frontend is new")
    assert closed == "Deployment x/web is gone"
    # a Service selector edit: where it now sends, and the policy that isolates those pods
    for reason in reasons("selector"):
        assert "Service s/web now sends to Deployment s/green (was Deployment s/blue)" in reason
        assert "ingress: now isolated by s/green-closed" in reason


STS = """apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: web}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: postgres, ports: [{containerPort: 5432}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: c, image: api}]}
"""
ONLY_DB_0 = """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-0-only, namespace: web}
spec:
  podSelector: {matchExpressions: [{key: statefulset.kubernetes.io/pod-name, operator: NotIn,
                                    values: [db-0]}]}
  policyTypes: [Ingress]
"""
EGRESS = """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: web}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}}]
    ports: [{port: 443}]
"""


def _pair(tmp_path: Path, old: str, new: str) -> tuple[str, str]:
    (tmp_path / "old.yaml").write_text(old)
    (tmp_path / "new.yaml").write_text(new)
    return str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")


def test_pods_of_one_workload_that_differ_are_partly(tmp_path, capsys, monkeypatch):
    # Every pod but db-0 isolated for ingress, no rule: api reaches db-0 and not db-1 (2 of 4
    # pairs); db-0 is reached by db-1, db-1 by nobody (1 of 2 pairs); the cluster's two CoreDNS
    # pods reach db-0 only (2 of 4).
    old, new = _pair(tmp_path, STS, STS + ONLY_DB_0)
    code, out, _ = run(capsys, monkeypatch, "diff", old, new, "-o", "json")
    assert code == 1
    changes = {(c["from"], c["to"]): c for c in json.loads(out)["changes"]}
    assert set(changes) == {
        ("web/api", "web/db"),
        ("web/db", "web/db"),
        ("kube-system/coredns", "web/db"),
    }
    api = changes[("web/api", "web/db")]
    assert (api["before"], api["after"], api["change"]) == ("allowed", "partly", "closed")
    assert (api["before_pairs"], api["after_pairs"]) == (
        {"allowed": 4, "total": 4},
        {"allowed": 2, "total": 4},
    )
    assert changes[("web/db", "web/db")]["after_pairs"] == {"allowed": 1, "total": 2}
    code, text, _ = run(capsys, monkeypatch, "diff", old, new)
    assert "web/deploy/api -> web/sts/db TCP/5432: allowed -> partly (2 of 4 pod pairs)" in text


def test_external_ranges_cut_by_every_ipblock(tmp_path, capsys, monkeypatch):
    # Egress of api isolated to 203.0.113.0/24 except its upper half, on 443: the lower half
    # closes nothing (it is allowed), the upper half and any other address... are no ipBlock's
    # cidr piece except the except itself, which is now denied; before, nothing isolated api.
    old, new = _pair(tmp_path, STS, STS + EGRESS)
    code, out, _ = run(capsys, monkeypatch, "diff", old, new, "-o", "json", "--port", "443")
    assert code == 1
    got = rows(out)
    assert ("web/api", "Deployment", "203.0.113.128/25", "ipBlock", 443, "TCP", "allowed",
            "denied") in got  # fmt: skip
    assert not any(r[2] == "203.0.113.0/25" for r in got)  # still allowed
    # and api's egress to db, now isolated, closes (db declares 5432; --port asks 443 of all)
    assert ("web/api", "Deployment", "web/db", "StatefulSet", 443, "TCP", "allowed",
            "denied") in got  # fmt: skip


def test_exit_status_as_diff(tmp_path, capsys, monkeypatch):
    same = str(DATA / "tightened" / "old")
    code, out, _ = run(capsys, monkeypatch, "diff", same, same)
    assert code == 0 and out.endswith("no change in connectivity between " + f"{same} and {same}\n")
    old, new = str(DATA / "tightened" / "old"), str(DATA / "tightened" / "new")
    assert run(capsys, monkeypatch, "diff", old, new)[0] == 1
    # only closed: --fail-on opened passes; the reverse direction opens, and fails
    assert run(capsys, monkeypatch, "diff", old, new, "--fail-on", "opened")[0] == 0
    assert run(capsys, monkeypatch, "diff", new, old, "--fail-on", "opened")[0] == 1
    code, _, err = run(capsys, monkeypatch, "diff", old, str(tmp_path / "nope"))
    assert code == 2 and "no such file or directory" in err and "Traceback" not in err
    code, _, err = run(capsys, monkeypatch, "diff", old, new, "-o", "dot")
    assert code == 2


def test_formats(capsys, monkeypatch):
    old, new = str(DATA / "renamed" / "old"), str(DATA / "renamed" / "new")
    _, text, _ = run(capsys, monkeypatch, "diff", old, new)
    assert text.splitlines()[:3] == [
        "x:",
        "  + x/deploy/frontend -> x/sts/db TCP/5432: absent -> allowed",
        text.splitlines()[2],
    ]
    assert "  - x/deploy/web -> x/sts/db TCP/5432: allowed -> absent" in text
    assert "\x1b[" not in text  # no colour into a pipe
    assert text.endswith("2 change(s): 1 opened, 1 closed\n")
    _, md, _ = run(capsys, monkeypatch, "diff", old, new, "-o", "md")
    lines = md.splitlines()
    assert lines[2] == "| | from | to | port | before | after | why |"
    assert lines[4].startswith("| ➕ opened | `x/deploy/frontend` | `x/sts/db` | TCP/5432 |")
    assert lines[5].startswith("| ➖ closed | `x/deploy/web` | `x/sts/db` | TCP/5432 |")


def test_text_colours_opened_and_closed_on_a_terminal():
    from podnet.model.revision import load_side

    old = load_side(str(DATA / "renamed" / "old"))
    new = load_side(str(DATA / "renamed" / "new"))
    text = to_text(compare(old, new), colour=True)
    assert "\x1b[32m  + x/deploy/frontend" in text and "\x1b[31m  - x/deploy/web" in text


# REF:PATH ----------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_a_side_read_from_git(tmp_path, capsys, monkeypatch):
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "tightened" / "old", repo / "deploy")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    shutil.copy(DATA / "tightened" / "new" / "policy.yaml", repo / "deploy" / "policy.yaml")
    monkeypatch.chdir(repo)
    code, out, err = run(capsys, monkeypatch, "diff", "HEAD:deploy", "deploy", "-o", "json")
    assert (code, err) == (1, "")
    assert rows(out) == CASES[0][1]
    # a file, and the same tree on both sides
    code, _, _ = run(capsys, monkeypatch, "diff", "HEAD:deploy/app.yaml", "deploy/app.yaml")
    assert code == 0
    assert run(capsys, monkeypatch, "diff", "HEAD:deploy", "HEAD:deploy")[0] == 0
    # errors name the revision and exit 2
    for spec, words in (
        ("nosuchref:deploy", "nosuchref:deploy"),
        ("HEAD:nosuchdir", "HEAD:nosuchdir"),
    ):
        code, _, err = run(capsys, monkeypatch, "diff", spec, "deploy")
        assert code == 2 and words in err and "Traceback" not in err, err
    # an error in an old manifest names it as REF:FILE
    (repo / "deploy" / "bad.yaml").write_text("kind: [\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "bad")
    code, _, err = run(capsys, monkeypatch, "diff", "HEAD:deploy", "deploy")
    assert code == 2 and "HEAD:deploy/bad.yaml" in err
    # outside a repository
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    code, _, err = run(capsys, monkeypatch, "diff", "HEAD:deploy", str(repo / "deploy"))
    assert code == 2 and "not a git repository" in err


# random pairs against two reach runs -------------------------------------------------------------

KINDS = ("StatefulSet", "ReplicationController")  # replicas: 0 adds no pod of its own


@st.composite
def sides(draw: st.DrawFn) -> tuple[Manifests, dict[str, tuple[str, str, str]]]:
    """Random pods, some owned by workloads, and policies; and each pod's unit as the test
    names it (namespace, kind, name)."""
    namespaces = [Namespace(ns, draw(labels)) for ns in NAMESPACES]
    workloads = {}
    pods, units = [], {}
    for i in range(draw(st.integers(1, 8))):
        ns = draw(st.sampled_from(NAMESPACES))
        owner = draw(st.sampled_from(("", "w0", "w1")))
        kind = KINDS[int(owner[1:]) % len(KINDS)] if owner else ""
        ports = draw(st.lists(container_port, max_size=2))
        unique = {p.name: p for p in ports if p.name}
        ports = [p for p in ports if not p.name] + list(unique.values())
        pod = Pod(
            name=f"p{i}",
            namespace=ns,
            labels=draw(labels),
            ports=tuple(ports),
            owner=f"{kind}/{owner}" if owner else "",
        )
        pods.append(pod)
        units[pod.key] = (ns, kind, owner) if owner else (ns, "Pod", pod.name)
        if owner:
            workloads[(ns, kind, owner)] = Workload(
                kind, owner, ns, Pod("", ns, {}), {}, 0, LabelSelector(), "", pod.origin
            )
    policies = []
    for i in range(draw(st.integers(0, 4))):
        types = draw(st.sampled_from((("Ingress",), ("Egress",), ("Ingress", "Egress"))))
        policies.append(
            NetworkPolicy(
                name=f"np{i}",
                namespace=draw(st.sampled_from(NAMESPACES)),
                pod_selector=draw(selector),
                policy_types=types,
                ingress=tuple(draw(st.lists(rule, max_size=2))),
                egress=tuple(draw(st.lists(rule, max_size=2))),
            )
        )
    m = Manifests(
        namespaces=namespaces, pods=pods, policies=policies, workloads=list(workloads.values())
    )
    return m, units


def _unit(key: str, units: dict) -> tuple[str, str, str]:
    if key in units:
        return units[key]
    assert key.startswith("kube-system/coredns-")  # the cluster's DNS, added to every cluster
    return ("kube-system", "Deployment", "coredns")


def _state(allowed: int, pairs: int) -> str:
    return "allowed" if allowed == pairs else "denied" if allowed == 0 else "partly"


def _expected(old, new, units_old, units_new, ports):  # type: ignore[no-untyped-def]
    """The differences of two reach runs, aggregated by workload in plain loops."""
    sides = []
    declared: dict = {}
    for cluster, units in ((old, units_old), (new, units_new)):
        r0 = reach(cluster)
        for pod, pp in r0.declared.items():
            declared.setdefault(_unit(pod, units), set()).update(pp)
        sides.append((cluster, units))
    every = sorted(set().union(*declared.values()) if ports is None else set(ports))
    counts = []
    for cluster, units in sides:
        r = reach(cluster, every)
        c: dict = {}
        for probe in r.probes:
            for i, src in enumerate(r.pods):
                for j, dst in enumerate(r.pods):
                    if i == j:
                        continue
                    k = (_unit(src, units), _unit(dst, units), probe.port, probe.protocol)
                    al, pa = c.get(k, (0, 0))
                    c[k] = (al + bool(probe.allowed[i, j]), pa + 1)
        present = {_unit(p, units) for p in r.pods}
        counts.append((c, present))
    out = set()
    all_units = counts[0][1] | counts[1][1]
    for a in all_units:
        for b in all_units:
            wanted = declared.get(b, set()) if ports is None else set(ports)
            for port, proto in wanted:
                states = []
                for c, present in counts:
                    if a in present and b in present:
                        al, pa = c.get((a, b, port, proto), (0, 0))
                        states.append(None if pa == 0 else (_state(al, pa), al, pa))
                    else:
                        states.append(("absent", 0, 0))
                if None in states:
                    continue
                (x, xa, xp), (y, ya, yp) = states
                if {x, y} == {"absent", "denied"}:
                    continue
                if x != y or (x == "partly" and xa * yp != ya * xp):
                    out.add((a, b, port, proto, x, y))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sides(), sides(), st.sampled_from((None, [(80, "TCP")], [(53, "UDP"), (81, "TCP")])))
def test_random_pairs_equal_two_reach_runs_aggregated(old, new, ports):
    (m_old, units_old), (m_new, units_new) = old, new
    c_old, c_new = resolve(m_old), resolve(m_new)
    diff = compare(c_old, c_new, ports)
    got = {
        (
            (c.source.namespace, c.source.kind, c.source.name),
            (c.target.namespace, c.target.kind, c.target.name),
            c.port,
            c.protocol,
            c.before.state.value,
            c.after.state.value,
        )
        for c in diff.changes
        if "Service" not in (c.target.kind,) and "ipBlock" not in (c.source.kind, c.target.kind)
    }
    assert got == _expected(c_old, c_new, units_old, units_new, ports)
    assert len(diff.changes) == len(set(diff.changes))
    assert all(not np.isnan(c.before.allowed) for c in diff.changes)
