# seedsift: two commands do everything on a fresh machine.
#   make run   - set up .venv, run the pipeline on config.yaml with all cores, print the summary
#   make test  - the same setup, then the whole test suite

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)

.PHONY: setup system-deps run recover test lint bench gpu-bench dag clean rerun-missing cluster-bench report status

# GPU=cuda | cuda13 | rocm adds CuPy for the GPU sieve (requirements-gpu-$(GPU).txt); without it the
# install stays CPU-only.
GPU ?=
ifneq ($(GPU),)
ifeq ($(wildcard requirements-gpu-$(GPU).txt),)
$(error GPU=$(GPU): no requirements-gpu-$(GPU).txt; use GPU=cuda, GPU=cuda13 or GPU=rocm)
endif
GPU_STAMP := $(VENV)/.installed-gpu-$(GPU)
endif

# The venv, the profile links that make `snakemake --profile cluster` (or slurm) work by name
# from the repository root (seedsift/cluster/profile_links.py; $XDG_CONFIG_HOME/snakemake), and
# the numba kernels compiled into their cache, one kernel per core at a time (seedsift/pipeline/warm.py:
# minutes on a fresh checkout, seconds after).
setup: $(STAMP) $(GPU_STAMP)
	@$(BIN)/python -m seedsift.cluster.profile_links
	@$(BIN)/python -m seedsift.pipeline.warm

$(VENV)/.installed-gpu-%: requirements-gpu-%.txt $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r $< -c requirements.lock
	touch $@

$(STAMP): requirements.txt requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt -c requirements.lock
	# The project itself, editable: jobs import this checkout's seedsift and models from any directory.
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -c "import ijson, sys; sys.exit(0 if ijson.backend == 'yajl2_c' else 'ijson C backend yajl2_c is not in use: ' + ijson.backend)"
	touch $(STAMP)

run: setup
	snakemake $(SNAKEMAKE_ARGS)
	@cat results/report/summary.txt

# Step 1, the sieve and the exact check only: each recovered (call, seed, skip) with its chance
# figure, its seed as a time where sieve.seed_time is used, and its next draws. Seconds, no training.
# On long sweeps it prints the sieve's progress and the time left every 10 seconds.
recover: setup
	python -m seedsift.pipeline.progress -- snakemake recover $(SNAKEMAKE_ARGS)

# Debian packages the tests use (graphviz for the DAG; openssh-server and rsync for the cluster
# tests; slurm-wlm and munge for the single-host SLURM cluster the SLURM test starts; a JDK,
# php-cli and g++ for the real runtimes the generator tests compare with).
system-deps:
	bash .ci/system-deps.sh

test: setup system-deps
	python -m pytest $(PYTEST_ARGS)

# The linters alone (make test runs them too, in tests/pipeline/test_lint.py).
lint: setup
	python -m pytest -q tests/pipeline/test_lint.py

bench: setup
	python -m seedsift.bench $(BENCH_ARGS)

# The sieve on this machine's GPU (after make setup GPU=...): the GPU against the CPU kernels for
# every call, stage-1 seeds/s, full sweeps on the GPU and the CPU cores, Step 3 (docs/gpu.md).
gpu-bench: setup
	python -m seedsift.bench.gpu_sieve $(GPU_BENCH_ARGS)

clean:
	rm -rf results logs benchmarks .snakemake .seedsift-staging

# One self-contained HTML file (default report.html) with the figures of results/report/, their
# captions, the DAG and the runtimes of the last run. Run `make run` first.
REPORT ?= report.html
report: setup
	snakemake $(SNAKEMAKE_ARGS) --report $(REPORT)
	@echo "report: $(REPORT)"

# Per step: done / missing / stale (Snakemake's own view), key metrics, success criteria and the
# adjustable parameters with their bounds. STATUS_ARGS=--json prints the same as JSON.
status: setup
	python scripts/status.py $(STATUS_ARGS) -- $(SNAKEMAKE_ARGS)

# Job DAG and rule graph as SVG in $(DAG_DIR)/ (graphviz dot, installed by system-deps when missing).
DAG_DIR ?= dag
dag: setup system-deps
	python -m seedsift.pipeline.graphs --outdir $(DAG_DIR) -- $(SNAKEMAKE_ARGS)

# After deleting intermediate outputs of a finished run: rebuild exactly the missing files and
# what depends on them (snakemake alone says "Nothing to be done"). Add -n to SNAKEMAKE_ARGS to preview.
rerun-missing: setup
	python -m seedsift.pipeline.rerun -- $(SNAKEMAKE_ARGS)

# The cluster benchmark: the per-kind schedule of the seed's cluster for the default DAG (before
# and after per-kind accounting, simulated), the per-job overhead over loopback ssh against the
# local executor, and the 1,000-job DAG over 4 loopback nodes (dry run and run). The loopback
# parts start private sshd servers on 127.0.0.x: they need root, openssh-server and rsync.
cluster-bench: setup system-deps
	python -m seedsift.bench.cluster $(CLUSTER_BENCH_ARGS)
