"""The model-versus-kernel comparison and the state journal, without root."""

from __future__ import annotations

import numpy as np
import pytest

from podnet.linux import state
from podnet.linux import verify as v
from podnet.policy.matrix import Probe, Reach
from podnet.report import verify as verify_report


def reach(pods: list[str], cells: dict[tuple[int, str], list[list[bool]]]) -> Reach:
    return Reach(
        pods=pods,
        ips={k: f"10.244.0.{i + 2}" for i, k in enumerate(pods)},
        probes=[Probe(port, proto, np.array(m, dtype=bool)) for (port, proto), m in cells.items()],
    )


def test_differences_cell_by_cell() -> None:
    pods = ["x/a", "x/b"]
    model = reach(
        pods,
        {(80, "TCP"): [[True, False], [True, True]], (53, "UDP"): [[True, True], [True, True]]},
    )
    kernel = reach(
        pods,
        {(80, "TCP"): [[True, True], [True, True]], (53, "UDP"): [[True, True], [False, True]]},
    )
    status = {
        (80, "TCP"): np.array([["open", "open"], ["open", "open"]], dtype=object),
        (53, "UDP"): np.array([["open", "open"], ["timeout", "open"]], dtype=object),
    }
    diffs = v.differences(model, v.Measured(kernel, status, []))
    assert [str(d) for d in diffs] == [
        "x/a -> x/b 80/TCP: model denied, kernel allowed (open)",
        "x/b -> x/a 53/UDP: model allowed, kernel denied (timeout)",
    ]


def test_differences_follow_pod_names_not_positions() -> None:
    model = reach(["x/a", "x/b"], {(80, "TCP"): [[True, False], [True, True]]})
    kernel = reach(["x/b", "x/a"], {(80, "TCP"): [[True, True], [False, True]]})
    status = {(80, "TCP"): np.full((2, 2), "open", dtype=object)}
    assert v.differences(model, v.Measured(kernel, status, [])) == []


def test_sctp_cells_are_neither_allowed_nor_denied() -> None:
    kernel = reach(["x/a"], {(80, "TCP"): [[True]]})
    out = verify_report.to_json(
        v.Measured(kernel, {(80, "TCP"): np.array([["open"]], dtype=object)}, [(90, "SCTP")])
    )
    assert [(p["protocol"], p["port"]) for p in out["probes"]] == [("SCTP", 90), ("TCP", 80)]
    sctp = out["probes"][0]
    assert sctp["allowed"] == {"x/a": {"x/a": None}} and "SCTP" in sctp["note"]


@pytest.fixture
def state_root(tmp_path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(state, "STATE_ROOT", str(tmp_path))
    monkeypatch.setattr(state, "state_dir", lambda c: f"{tmp_path}/{c}")
    return tmp_path


def test_journal_records_before_and_reads_back(state_root) -> None:  # type: ignore[no-untyped-def]
    j = state.Journal("c1")
    j.namespaces(["pn-c1-underlay", "pn-c1-node-1"])
    j.paths(["/etc/netns/pn-c1-x_a"])
    j.process(1)
    j.close()
    with open(f"{state_root}/c1/journal", "a") as f:
        f.write('{"netns": ["pn-c1-cut')  # a line cut short by a kill
    rec = state.read("c1")
    assert rec is not None and not rec.complete
    assert rec.namespaces == ["pn-c1-underlay", "pn-c1-node-1"]
    assert rec.paths == ["/etc/netns/pn-c1-x_a"]
    assert rec.processes == [(1, state.process_start(1))]
    state.write_state("c1", {"cluster": "c1"})
    assert state.read("c1").complete  # type: ignore[union-attr]
    assert state.clusters() == ["c1"]
    from podnet.cli.linux import choose

    assert choose(None) == "c1"
    state.remove("c1")
    assert state.read("c1") is None


def test_choose_needs_a_name_when_several_are_up(state_root) -> None:  # type: ignore[no-untyped-def]
    from podnet.cli.linux import choose
    from podnet.errors import UsageError

    with pytest.raises(UsageError, match="no cluster is up"):
        choose(None)
    for c in ("a", "b"):
        state.Journal(c).close()
    with pytest.raises(UsageError, match="several"):
        choose(None)
    assert choose("b") == "b"
