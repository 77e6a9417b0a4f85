"""sieve.device: the GPU kernels in the sieve give what the CPU gives; each shard says where it ran."""

import json
import random
import sys
import types

import pytest

from seedsift import cli
from seedsift.data import synthetic
from seedsift.errors import ConfigError
from seedsift.jsonio import read_json
from seedsift.pipeline.config import validate
from seedsift.prng.gpu import cupy_backend, device
from seedsift.report import summary
from seedsift.sieve import search, shards

from conftest import TINY_CONFIG, deep_update
from scripts_loader import load_script


def spec(name, train, **kw):
    base = dict(prng=name, train=tuple(train), mod=1000, skip_min=0, skip_max=3, burn=0,
                window_start=1, window=4, threshold=0.25)
    base.update(kw)
    return search.SieveSpec(**base)


class _Chunked:
    """The CPU build with small chunks, so a range crosses several launches."""

    def __init__(self, inner, chunk):
        self.inner, self.chunk = inner, chunk

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def chunk_seeds(self, gen):
        return self.chunk


# Discovery mode on random draws (many chance survivors) and an exact search of a planted seed,
# for calls with rejection loops, the CPython and glibc seedings and the PHP legacy twist.
CASES = [
    ("mt19937", 1000, 1 << 15), ("java.util.Random.nextInt", 600, 1 << 16), ("python.random.randrange", 1000, 1 << 12),
    ("php.mt_rand.legacy", 6, 1 << 13), ("glibc.rand", 1000, 1 << 14),
    ("cpp.minstd_rand.uniform_int_distribution", 1000, 1 << 16), ("numpy.random.RandomState.randint", 1000, 1 << 14),
    ("xoshiro128pp", 1000, 1 << 16),
]


@pytest.mark.parametrize("name, mod, n", CASES)
def test_the_gpu_kernels_sieve_exactly_what_the_cpu_kernels_sieve(gpu_cpu_build, name, mod, n):
    rng = random.Random(name)
    start = rng.randrange(1 << 31)
    noise = [rng.randrange(mod) for _ in range(40)]
    seed, skip = start + rng.randrange(n), rng.randrange(4)
    planted, _ = synthetic.generate(name, seed, skip, 0, 40, mod, 0.0, 1)
    for train, kw in [(noise, {}), (planted, {"window": 8, "threshold": 1.0})]:
        s = spec(name, train, mod=mod, **kw)
        want, want_stats = search.sieve_range(s, start, start + n)
        got, got_stats = search.sieve_range(s, start, start + n, backend=_Chunked(gpu_cpu_build, n // 3 + 7))
        assert got == want
        assert got_stats["stage1_candidates"] == want_stats["stage1_candidates"]
        assert got_stats["forward_survivors"] == want_stats["forward_survivors"]
    assert any(r["seed"] == seed and r["skip"] == skip and r["bidirectional"] for r in got)


def test_device_cpu_never_looks_for_a_gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # an import of cupy would fail
    assert device.select("cpu") is None


def test_auto_without_cupy_runs_on_the_cpu_and_gpu_refuses_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert device.select("auto") is None
    with pytest.raises(ConfigError, match=r"sieve.device.*no usable GPU in this job: CuPy is not installed") as err:
        device.select("gpu")
    assert "\n" not in str(err.value)


def _fake_cupy(count):
    def get_count():
        if isinstance(count, Exception):
            raise count
        return count

    runtime = types.SimpleNamespace(getDeviceCount=get_count, is_hip=False)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime), __version__="0")


@pytest.mark.parametrize("count, says", [(0, "hide every device"), (RuntimeError("cudaErrorNoDevice"), "cudaErrorNoDevice")])
def test_a_cupy_that_sees_no_gpu_is_not_used(monkeypatch, count, says):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(count))
    assert device.select("auto") is None
    with pytest.raises(ConfigError, match=says):
        device.select("gpu")


def test_a_visible_gpu_is_taken_unless_the_slot_is_a_cpu_slot(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(1))
    assert isinstance(device.select("auto", environ={}), cupy_backend.CupyBackend)
    assert isinstance(device.select("gpu", environ={"SEEDSIFT_GPU_KIND": "cuda"}), cupy_backend.CupyBackend)
    assert device.select("auto", environ={"SEEDSIFT_GPU_KIND": "none"}) is None
    with pytest.raises(ConfigError, match="CPU slot"):
        device.select("gpu", environ={"SEEDSIFT_GPU_KIND": "none"})


def test_each_shard_records_its_device_and_the_summary_shows_it(tmp_path, monkeypatch, gpu_cpu_build):
    from seedsift.data.history import prepare

    cfg = validate(deep_update(TINY_CONFIG, {"sieve": {"shards": 2, "prngs": ["pcg32"], "device": "auto"}}))
    prepare("synthetic", cfg, tmp_path)
    train = tmp_path / "train_history.json"
    paths = [tmp_path / f"shard_{i}.json" for i in range(2)]
    shards.run_shard(train, "pcg32", 0, cfg, paths[0])
    monkeypatch.setattr(device, "select", lambda mode, environ=None: gpu_cpu_build)
    shards.run_shard(train, "pcg32", 1, cfg, paths[1])
    docs = [read_json(p) for p in paths]
    assert docs[0]["device"]["label"] == "cpu/numba" and docs[0]["device"]["device"] == "cpu"
    assert docs[1]["device"]["label"] == "cpu/cpu-build"
    outs = [tmp_path / n for n in ("fwd.json", "bid.json", "summary.json")]
    agg = shards.aggregate(paths, train, cfg, *outs)
    assert agg["families"]["pcg32"]["devices"] == {"cpu/numba": 1, "cpu/cpu-build": 1}
    line = next(ln for ln in summary.render({"data": {"n_draws": 1, "synthetic": True, "mod": 1000, "n_train": 1,
                                                      "n_holdout": 1, "n_test": 1}, "sieve": agg,
                                             "scoring": _EMPTY_SCORING, "training": {"status": "none", "reason": "-"},
                                             "prediction": {"status": "skipped", "reason": "-"},
                                             "evaluation": {"n_test": 1, "verdict": "no signal", "reason": "-"}})
                .splitlines() if ln.strip().startswith("pcg32"))
    assert line.endswith("cpu/cpu-build x1 + cpu/numba x1")
    # The same survivors, whichever device sieved the shard.
    cfg1 = deep_update(cfg, {"sieve": {"shards": 1}})
    shards.run_shard(train, "pcg32", 0, cfg1, tmp_path / "gpu.json")
    monkeypatch.undo()
    shards.run_shard(train, "pcg32", 0, cfg1, tmp_path / "cpu.json")
    assert read_json(tmp_path / "gpu.json")["survivors"] == read_json(tmp_path / "cpu.json")["survivors"]


_EMPTY_SCORING = {"scored_survivors": 0, "feature_count": 0, "n_holdout": 1, "chance_holdout_quality": 0.001,
                  "top_by_score": []}


def test_device_gpu_without_a_gpu_stops_the_shard_job_with_one_line(capfd, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    train = tmp_path / "train_history.json"
    train.write_text(json.dumps(list(range(40))))
    out = tmp_path / "shard_0.json"
    params = {"mod": 1000, "sieve": {"seed_start": 0, "seed_end": 1 << 12, "shards": 1, "skip_min": 0, "skip_max": 1,
                                     "burn": 0, "window_start": 1, "window": 4, "threshold": 0.25, "device": "gpu"}}
    code = cli.run(load_script("sieve_shard").main, ["--train", str(train), "--prng", "pcg32", "--shard", "0",
                                                     "--params", json.dumps(params), "--output", str(out)])
    err = [ln for ln in capfd.readouterr().err.splitlines() if "error" in ln]
    assert code == cli.EXIT_INPUT and not out.exists()
    assert len(err) == 1 and "sieve.device" in err[0] and "no usable GPU" in err[0]


def test_shard_seeds_sets_the_number_of_shards():
    cfg = validate(deep_update(TINY_CONFIG, {"sieve": {"seed_end": 1 << 16, "shard_seeds": 10000, "shards": 2}}))
    assert cfg["sieve"]["shards"] == 7
    parts = [search.shard_bounds(0, 1 << 16, 7, i) for i in range(7)]
    assert max(hi - lo for lo, hi in parts) <= 10000
    with pytest.raises(ConfigError, match=r"sieve.shard_seeds.*at least 16: at most 4096 shards"):
        validate(deep_update(TINY_CONFIG, {"sieve": {"seed_end": 1 << 16, "shard_seeds": 15}}))
