"""Benchmarks behind ``make bench`` (``python -m seedsift.bench``): sieve, scoring, training, cluster, GPU check."""
