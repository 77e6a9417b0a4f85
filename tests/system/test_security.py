"""No unpickling, no eval, no shell strings built from values: a scan of every Python source."""

import re

import pytest

from conftest import REPO

SOURCES = sorted(
    p for d in ("seedsift", "models", "scripts", "tests") for p in (REPO / d).rglob("*.py") if p.name != "test_security.py"
) + sorted((REPO / "rules").glob("*.smk")) + [REPO / "Snakefile"]

FORBIDDEN = [
    (r"\bpickle\.(load|loads|Unpickler|dump|dumps)\b|\bcPickle\b|^\s*import dill|\bshelve\b", "pickle"),
    (r"^\s*(import|from)\s+joblib|\bjoblib\.(load|dump)", "joblib"),
    (r"(?<![\w.])eval\(|(?<![\w.])exec\(", "eval/exec"),
    (r"shell\s*=\s*True", "shell=True"),
    (r"\bos\.system\(|\bos\.popen\(", "os.system/os.popen"),
    (r"yaml\.load\((?![^)]*SafeLoader)", "yaml.load without SafeLoader"),
    (r"np\.load\([^)]*allow_pickle\s*=\s*True", "np.load(allow_pickle=True)"),
]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_unsafe_calls(path):
    text = path.read_text(encoding="utf-8")
    for pattern, what in FORBIDDEN:
        hits = [i + 1 for i, line in enumerate(text.splitlines()) if re.search(pattern, line)]
        assert not hits, f"{path.relative_to(REPO)} lines {hits}: {what}"


def test_every_torch_load_uses_weights_only():
    for path in SOURCES:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path.relative_to(REPO)}:{i}: torch.load without weights_only=True"


def test_the_scan_would_catch_a_pickle(tmp_path):
    bad = "import pickle\nmodel = pickle.load(open('m.pkl', 'rb'))\n"
    assert any(re.search(p, line) for p, _ in FORBIDDEN for line in bad.splitlines())
    assert re.search(FORBIDDEN[3][0], "subprocess.run(cmd, shell=True)")


def test_rules_quote_every_path():
    """Every {input...}/{output...}/{params...}/{log} placeholder in a shell command is :q quoted."""
    for path in sorted((REPO / "rules").glob("*.smk")):
        for i, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip().startswith('"') and "{" in line:
                for field in re.findall(r"\{((?:input|output|params|log|wildcards)[^}]*)\}", line):
                    assert field.endswith(":q"), f"{path.name}:{i}: {{{field}}} is not quoted"
