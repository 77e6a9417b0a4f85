"""seedsift: recover seeds of weak PRNGs from their outputs, as a Snakemake pipeline.

The library holds all non-ML logic: generators and sieve kernels, draw-history IO,
config validation against the step manifests, survivor scoring, prediction and
evaluation, provenance, and the cluster placer. The ML wrappers live in ``models``.
"""

__version__ = "0.1.0"
