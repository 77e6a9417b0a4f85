"""The linters: ruff, snakefmt and snakemake --lint, each clean but for the notes docs/development.md justifies."""

import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO, env

BIN = Path(sys.executable).parent
# snakemake --lint notes the project keeps on purpose (each explained in docs/development.md).
JUSTIFIED = {"Specify a conda environment or container for each rule."}


def _run(cmd, cwd=REPO):
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=300, check=False)


def test_ruff_is_clean():
    proc = _run([str(BIN / "ruff"), "check", "--no-cache", "."])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_snakefmt_is_clean():
    proc = _run([str(BIN / "snakefmt"), "--check", "Snakefile", "rules"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def lint_notes(text):
    """The titles of the notes in snakemake --lint's text report."""
    return {m.group(1).rstrip(":") for m in re.finditer(r"^\s+\* (.+?)$", text, flags=re.MULTILINE)}


def test_lint_notes_are_read_from_the_report():
    report = "Lints for rule a (line 1, x.smk):\n    * Specify a thing.:\n      why\n    * Another one.:\n"
    assert lint_notes(report) == {"Specify a thing.", "Another one."}


def test_snakemake_lint_has_only_the_justified_notes(tmp_path):
    proc = _run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--lint"], cwd=tmp_path)
    text = proc.stdout + proc.stderr
    assert "Lints for" in text or proc.returncode == 0, text[-4000:]
    assert lint_notes(text) <= JUSTIFIED, text[-4000:]
    docs = (REPO / "docs" / "development.md").read_text(encoding="utf-8")
    for note in JUSTIFIED:
        assert f'"{note}"' in " ".join(docs.split()), f"docs/development.md does not justify the lint note {note!r}"
