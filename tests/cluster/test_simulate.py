"""The schedule model: a hand-checkable DAG before and after per-kind accounting, and the readers
of a dry run and of a finished run's job lengths."""

import pytest

from seedsift.cluster import inventory, simulate

INV = {
    "nodes": {"c": {"ssh": "c", "gpu_kind": "cuda", "gpus": [0]},
              "r": {"ssh": "r", "gpu_kind": "rocm", "gpus": [0, 1], "max_jobs": 2}},
    "job_types": {"xgboost": ["cuda"]},
}


def _dag():
    # Four CUDA-only folds, then four folds any GPU may run; 10 s each, all independent.
    jobs = [simulate.SimJob(i, "train_fold", {"i": str(i)}, 1, [], [f"t{i}"], job_type="xgboost", duration=10)
            for i in range(4)]
    jobs += [simulate.SimJob(i, "train_fold", {"i": str(i)}, 1, [], [f"a{i}"], job_type="neural_net", duration=10)
             for i in range(4, 8)]
    return jobs


def test_per_kind_accounting_keeps_the_rocm_node_busy_while_cuda_only_jobs_queue():
    inv = inventory.parse(INV)
    before = simulate.simulate(_dag(), inv, "before", head_cores=100)
    after = simulate.simulate(_dag(), inv, "after", head_cores=100)
    # After: the CUDA node runs the four CUDA-only folds back to back, the ROCm node the rest.
    assert after.makespan == 40
    assert {after.starts[i][2] for i in range(4)} == {"c"} and {after.starts[i][2] for i in range(4, 8)} == {"r"}
    # Before: CUDA-only folds took the global slots and waited for the CUDA node while holding
    # them, so the ROCm node sat idle and one flexible fold ended up behind them on the CUDA node.
    assert before.makespan == 50
    assert sum(before.waited.values()) == 10 + 20 + 20  # folds 1, 2 and 3 waited holding a slot
    assert before.busy["r"] == pytest.approx(30 / (2 * 50))
    assert after.busy["r"] == pytest.approx(40 / (2 * 40)) and after.busy["c"] == pytest.approx(1.0)
    summary = after.summary(inv, _dag())
    assert summary["placed_jobs_by_type_and_kind"] == {"neural_net": {"rocm": 4}, "xgboost": {"cuda": 4}}
    assert summary["limits"] == {"gpu_cuda": 1, "gpu_rocm": 2, "gpu_slots": 3}
    # Before, the ROCm node's two slots idled 0-20 s and one of them 20-30 s while flexible folds
    # were held back (the waiting CUDA-only folds had all the global slots); after, never.
    assert before.idle_while_work_waited == 2 * 20 + 10
    assert after.idle_while_work_waited == 0


def test_dependencies_and_head_rules_are_respected():
    inv = inventory.parse(INV)
    jobs = [simulate.SimJob(0, "prepare", {}, 1, [], ["x"], duration=5),
            simulate.SimJob(1, "sieve_shard", {"i": "0"}, 0, ["x"], ["s0"], job_type="sieve_shard", duration=7),
            simulate.SimJob(2, "sieve_shard", {"i": "1"}, 0, ["x"], ["s1"], job_type="sieve_shard", duration=7),
            simulate.SimJob(3, "aggregate", {}, 1, ["s0", "s1"], ["agg"], duration=1)]
    made_by = {p: j.jobid for j in jobs for p in j.outputs}
    for j in jobs:
        j.deps = {made_by[p] for p in j.inputs}
    s = simulate.simulate(jobs, inv, "after", head_cores=2)
    assert s.starts[0][:2] == (0, 5) and s.starts[0][2] == "head-local"
    assert {s.starts[1][2], s.starts[2][2]} == {"r"}  # the flexible shards fill the ROCm node first
    assert s.starts[3][0] == 12 and s.makespan == 13


DRY = """
[Tue Dec  1 09:58:37 2026]
rule sieve_shard:
    input: results/data/train_history.json, /repo/scripts/sieve_shard.py
    output: results/sieve/pcg32/shard_0.json
    jobid: 3
    wildcards: prng=pcg32, i=0
    threads: 0
    resources: tmpdir=/tmp, job_type=sieve_shard, gpu_slots=1, gpu_cuda=0
Shell command: python -m seedsift.cluster.place -- python x

[Tue Dec  1 09:58:37 2026]
rule select_model:
    input: results/sieve/pcg32/shard_0.json
    output: results/training/model/best_model.meta.json, results/training/feature_importance.json
    jobid: 7
    threads: 2
    resources: tmpdir=/tmp, job_type=neural_net,xgboost, gpu_slots=0, gpu_cuda=1

[Tue Dec  1 09:58:37 2026]
localrule all:
    input: results/training/model/best_model.meta.json
    jobid: 0
    resources: tmpdir=/tmp
"""


def test_jobs_are_read_from_a_dry_run():
    jobs = {j.rule: j for j in simulate.jobs_from_dry_run(DRY)}
    assert jobs["sieve_shard"].threads == 0 and jobs["sieve_shard"].wildcards == {"prng": "pcg32", "i": "0"}
    assert jobs["select_model"].job_type == "neural_net,xgboost" and jobs["select_model"].threads == 2
    assert jobs["select_model"].deps == {3} and jobs["all"].deps == {7} and jobs["all"].job_type is None


def test_job_lengths_come_from_benchmarks_and_the_log(tmp_path):
    jobs = simulate.jobs_from_dry_run(DRY)
    bench = tmp_path / "benchmarks" / "sieve" / "pcg32" / "shard_0.tsv"
    bench.parent.mkdir(parents=True)
    bench.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t100\n")
    log = tmp_path / ".snakemake" / "log" / "2026-12-01T100000.000000.snakemake.log"
    log.parent.mkdir(parents=True)
    log.write_text("[Tue Dec  1 10:00:00 2026]\nrule select_model:\n    jobid: 5\n\n"
                   "[Tue Dec  1 10:00:09 2026]\nFinished jobid: 5 (Rule: select_model)\n")
    missing = simulate.durations_from_run(tmp_path, jobs)
    by_rule = {j.rule: j.duration for j in jobs}
    assert by_rule["sieve_shard"] == 12.5 and by_rule["select_model"] == 9 and missing == ["all[]"]
