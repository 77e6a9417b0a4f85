"""make recover's progress line: the shards' progress records summed into one share, rate and time left."""

import logging
import sys

from seedsift.pipeline import progress
from seedsift.sieve import search


def test_the_sieve_log_is_read_back(caplog):
    spec = search.SieveSpec("xorshift32", tuple(range(20)), 1000, 0, 0, 0, 1, 4, 0.25)
    with caplog.at_level(logging.INFO, logger="seedsift.sieve.search"):
        search.sieve_range(spec, 0, 1 << 16, progress_every=0.0, label="xorshift32 shard 0: ")
    done, total, rate = progress.shard_progress(caplog.text)
    assert total == 1 << 16 and done == total and rate >= 0


def test_records_are_summed_into_one_line():
    records = [(50.0, 100, 10e6), (0.0, 300, 30e6), None]
    line = progress.summary_line(records)
    assert line.startswith("sieve: 12.5% of 400 seeds searched, 40.0 M seeds/s")
    assert progress.summary_line([None]) is None
    assert progress.summary_line([(0.0, 7.2e10, 10e6)]).endswith("of 72,000,000,000 seeds searched, 10.0 M seeds/s, "
                                                                 "about 2.0 h left")


def test_the_command_runs_and_its_status_is_returned(tmp_path):
    assert progress.main(["--every", "0.05", "--", sys.executable, "-c", "import sys; sys.exit(3)"]) == 3
