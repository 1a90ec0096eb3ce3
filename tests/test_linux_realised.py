"""The realiser's record: the value `up` keeps in state.json and the commands read back."""

from __future__ import annotations

import json

from podnet.linux import state
from podnet.linux.plan import make_plan
from podnet.linux.realised import Realised
from podnet.model.cluster import load_cluster


def test_record_round_trips_through_its_json_form(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    plan = make_plan(load_cluster(["examples/shop"]), "shop")
    realised = plan.realised(plan.state_dir)
    doc = json.loads(json.dumps(realised.to_json()))
    assert Realised.from_json(doc) == realised
    assert list(doc) == [
        "cluster",
        "backend",
        "namespaces",
        "nodes",
        "pods",
        "external",
        "processes",
        "state_dir",
    ]
    assert {k: v for k, v in doc.items() if k != "state_dir"} == plan.to_json()
    monkeypatch.setattr(state, "state_dir", lambda c: f"{tmp_path}/{c}")
    (tmp_path / "shop").mkdir()
    state.save(realised)
    assert state.load("shop") == realised
    pod = next(iter(realised.pods))
    assert realised.pod_netns[pod] == realised.pods[pod].netns == plan.pod(pod).netns  # type: ignore[union-attr]
