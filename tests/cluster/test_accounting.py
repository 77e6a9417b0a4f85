"""Per-kind job slots from the inventory: classes, limits, each job's request, the rules' resources."""

from types import SimpleNamespace

import pytest

from seedsift.cluster import accounting, inventory, locks

from conftest import REPO

SEED = {
    "nodes": {
        "head": {"local": True, "gpu_kind": "cuda", "gpus": [0, 1], "max_jobs": 2},
        "rig-a": {"ssh": "rig-a", "gpu_kind": "rocm", "gpus": list(range(12)), "max_jobs": 12},
        "rig-b": {"ssh": "rig-b", "gpu_kind": "rocm", "gpus": list(range(12)), "max_jobs": 12},
    },
    "job_types": {"xgboost": ["cuda"], "lightgbm": ["cuda"], "catboost": ["cuda"], "neural_net": ["cuda", "rocm"]},
}


def seed():
    return inventory.parse(SEED, source="seed.yaml")


def test_limits_are_the_slots_of_each_class():
    assert accounting.limits(seed()) == {"gpu_cuda": 2, "gpu_rocm": 24, "gpu_slots": 26}
    one_per_node = inventory.parse({**SEED, "defaults": {"max_jobs": 1},
                                    "nodes": {k: {**v, "max_jobs": 1} for k, v in SEED["nodes"].items()}})
    assert accounting.limits(one_per_node) == {"gpu_cuda": 1, "gpu_rocm": 2, "gpu_slots": 3}


def test_each_job_takes_one_unit_of_its_own_class_only():
    inv = seed()
    assert accounting.request(inv, "xgboost") == {"gpu_cuda": 1}
    assert accounting.request(inv, "neural_net") == {"gpu_slots": 1}
    assert accounting.request(inv, "sieve_shard") == {"gpu_slots": 1}  # not listed: any kind
    # A job that loads every backend (select_model) needs a kind all of them may use.
    assert accounting.request(inv, "neural_net,xgboost,lightgbm,catboost") == {"gpu_cuda": 1}
    assert accounting.request(inv, ["neural_net"]) == {"gpu_slots": 1}
    assert accounting.request(inv, "sieve_shard", require=("rocm",)) == {"gpu_rocm": 1}
    with pytest.raises(accounting.JobTypeError, match="no node may run job type 'xgboost'"):
        accounting.request(inv, "xgboost", require=("rocm",))


def test_a_class_that_is_not_every_kind_is_named_by_its_kinds():
    inv = inventory.parse({
        "nodes": {"c": {"ssh": "c", "gpu_kind": "cuda", "gpus": [0]}, "r": {"ssh": "r", "gpu_kind": "rocm", "gpus": [0]},
                  "x": {"ssh": "x", "max_jobs": 3}},
        "job_types": {"neural_net": ["cuda", "rocm"], "xgboost": ["cuda"]},
    })
    assert accounting.limits(inv) == {"gpu_cuda": 1, "gpu_cuda_rocm": 2, "gpu_none": 3, "gpu_rocm": 1, "gpu_slots": 5}
    assert accounting.request(inv, "neural_net") == {"gpu_cuda_rocm": 1}
    assert accounting.request(inv, "plot") == {"gpu_slots": 1}


def test_rule_resources_give_the_job_type_and_a_unit_per_wildcard(monkeypatch, tmp_path):
    path = tmp_path / "nodes.yaml"
    import yaml

    path.write_text(yaml.safe_dump(SEED))
    environ = {accounting.ENV_NODES: str(path)}
    res = accounting.rule_resources("{model_type}", environ=environ)
    assert sorted(res) == ["gpu_cuda", "gpu_rocm", "gpu_slots", "job_type"]
    tree = SimpleNamespace(items=lambda: [("model_type", "catboost"), ("t", "0")])
    net = SimpleNamespace(items=lambda: [("model_type", "neural_net")])
    assert res["job_type"](tree) == "catboost" and res["job_type"](net) == "neural_net"
    assert [res[k](tree) for k in ("gpu_cuda", "gpu_rocm", "gpu_slots")] == [1, 0, 0]
    assert [res[k](net) for k in ("gpu_cuda", "gpu_rocm", "gpu_slots")] == [0, 0, 1]
    fixed = accounting.rule_resources(["neural_net", "xgboost"], environ=environ)
    assert fixed["job_type"](net) == "neural_net,xgboost" and fixed["gpu_cuda"](net) == 1
    # Without an inventory only the job type: local and SLURM runs get no slot resources.
    assert sorted(accounting.rule_resources("sieve_shard", environ={})) == ["job_type"]


def test_head_cores_leave_room_for_every_placed_job(tmp_path):
    import yaml

    path = tmp_path / "nodes.yaml"
    path.write_text(yaml.safe_dump(SEED))
    assert accounting.head_cores({}) == "all"
    assert accounting.head_cores({accounting.ENV_NODES: str(path)}, cpu_count=4) == 4 + 2 * 26


def test_the_profile_inventory_is_found_from_the_repository_root_and_from_anywhere(tmp_path):
    environ = {}
    assert accounting.point_at_inventory(environ, cwd=REPO) == str(REPO / "profiles/cluster/nodes.yaml")
    environ = {}
    assert accounting.point_at_inventory(environ, cwd=tmp_path) == str(REPO / "profiles/cluster/nodes.yaml")
    environ = {accounting.ENV_NODES: "mine.yaml", accounting.ENV_SSH_CONFIG: "ssh/cfg"}
    assert accounting.point_at_inventory(environ, cwd=tmp_path) == str(tmp_path / "mine.yaml")
    assert environ[accounting.ENV_SSH_CONFIG] == str(tmp_path / "ssh/cfg")


def test_nodes_are_tried_scarce_kind_last_and_a_constrained_waiter_gets_the_scarce_node():
    inv = seed()
    flexible = frozenset({"cuda", "rocm"})
    order = [n.name for n in locks.preference(inv.nodes, flexible, inv.job_types)]
    assert order == ["rig-a", "rig-b", "head"]
    # A CUDA-only job has no choice: its order is the inventory's.
    assert [n.name for n in locks.preference(inv.eligible("xgboost"), {"cuda"}, inv.job_types)] == ["head"]
    head = inv.node("head")
    assert locks.yields_to(head, flexible, [frozenset({"cuda"})])
    assert not locks.yields_to(head, {"cuda"}, [frozenset({"cuda"})])  # equals wait their turn
    assert not locks.yields_to(inv.node("rig-a"), flexible, [frozenset({"cuda"})])
