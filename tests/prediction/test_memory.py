"""Steps 6 and 7 stream the survivors: their memory does not grow with the survivors file.

The jobs run as the pipeline runs them (scripts/prediction_generator.py with the out-of-sample
priors, scripts/evaluate_predictions.py with a synthetic truth, so that it streams the file to
find it), each in a fresh process that logs its peak RSS. Loading the records whole, as Steps 6
and 7 once did, costs about 4.4 MB per 1,000 records (902 MB for 100,000); the bound below allows
a tenth of the file's growth (and 2 MB for the log's rounding). ``make bench`` measures the 206 MB case (seedsift.bench.prediction).
"""

import pytest

from seedsift.bench import prediction as bench

pytestmark = pytest.mark.slow

SMALL, LARGE = 4000, 24000


def test_memory_of_steps_6_and_7_does_not_grow_with_the_survivors_file(tmp_path):
    figures = {}
    for n in (SMALL, LARGE):
        paths = bench.write_inputs(tmp_path / str(n), n)
        figures[n] = bench.run_steps(paths, tmp_path / str(n)), paths["survivors"].stat().st_size / 1e6
    growth_mb = figures[LARGE][1] - figures[SMALL][1]
    assert growth_mb > 40  # the larger file is 20,000 records (about 43 MB) larger
    for step in ("prediction", "evaluation"):
        small, large = figures[SMALL][0][step]["peak_rss_mb"], figures[LARGE][0][step]["peak_rss_mb"]
        assert large - small < 0.1 * growth_mb + 2.0, (step, small, large, growth_mb)
        assert large < bench.TARGET_MB, (step, large)
