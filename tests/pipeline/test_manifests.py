"""manifests/ are the single source of truth: every step has one, every parameter has bounds,
and the outputs a manifest promises are the ones its rules declare."""

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

from seedsift import cli, manifests

from conftest import REPO

REQUIRED = {"agent_name", "description", "pipeline_step", "pipeline_step_name", "version", "inputs", "outputs",
            "parameter_bounds", "success_metrics", "follow_up_agents", "rules", "config_section"}
# Options that name files, folders, run-time plumbing or an output format, not tunable parameters.
PLUMBING = {"help", "params", "threads", "device", "parent", "job_type", "require", "trial", "fold", "shard", "prng",
            "json"}


def test_every_manifest_has_the_seed_format():
    seen_steps = {}
    for stem, m in manifests.load_all().items():
        assert REQUIRED <= set(m), (stem, REQUIRED - set(m))
        for name, bound in m["parameter_bounds"].items():
            assert bound["type"] in {"int", "float", "bool", "string", "categorical", "list"}, (stem, name)
            assert "default" in bound and bound.get("description"), (stem, name)
        for number, step in manifests.steps(m).items():
            assert number not in seen_steps, (stem, number, seen_steps.get(number))
            seen_steps[number] = stem
            assert set(step["rules"]) <= set(m["rules"]), (stem, number)
        assert sum((s["rules"] for s in manifests.steps(m).values()), []) == m["rules"], stem
    assert set(seen_steps) == set(range(1, 10))


def test_one_name_per_stage():
    """manifests/<stage>.json, rules/<stage>.smk, seedsift/<stage>/ and results/<stage>/ share one name."""
    rule_files = {p.stem for p in (REPO / "rules").glob("*.smk")} - {"common"}
    stems = set(manifests.load_all())
    assert stems == rule_files
    for stem, m in manifests.load_all().items():
        assert m["pipeline_step_name"] == stem
        assert (REPO / "seedsift" / stem / "__init__.py").is_file(), stem
        rules = re.findall(r"^(?:rule|checkpoint) (\w+):", (REPO / "rules" / f"{stem}.smk").read_text(), flags=re.MULTILINE)
        assert rules == m["rules"], (stem, rules)
        for out in m["outputs"]:
            assert out.startswith(f"results/{stem}/"), (stem, out)


def test_seed_m8_fields():
    r, p = manifests.load("training"), manifests.load("prediction")
    assert r["version"] == p["version"] == "1.4.0"
    mt = r["parameter_bounds"]["model_type"]
    assert mt["choices"] == ["neural_net", "xgboost", "lightgbm", "catboost"] and mt["default"] == "neural_net"
    assert r["parameter_bounds"]["compare_models"]["type"] == "bool"
    assert r["parameter_bounds"]["output_dir"]["default"] == "models/reinforcement"
    assert p["parameter_bounds"]["models_dir"]["default"] == "models/reinforcement"


def _workflow_rules(tmp_path):
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=REPO / "Snakefile", workdir=tmp_path)
        return {r.name: [str(o) for o in r.output] for r in wf._workflow.rules}


def _pattern(path):
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", ".+", re.escape(path)) + "$")


def test_manifest_outputs_are_what_the_rules_declare(tmp_path):
    rules = _workflow_rules(tmp_path)
    claimed = set()
    for stem, m in manifests.load_all().items():
        declared = [o for r in m["rules"] for o in rules[r]]
        claimed |= set(m["rules"])
        patterns = [_pattern(o) for o in m["outputs"]]
        for out in declared:
            assert any(p.match(out) for p in patterns), f"{stem}: rule output {out} is not in the manifest"
        for o, p in zip(m["outputs"], patterns):
            assert any(p.match(out) for out in declared), f"{stem}: manifest output {o} is declared by no rule"
    targets = {r for r, outs in rules.items() if not outs}
    assert targets == {"all", "recover"}
    assert claimed == set(rules) - targets, "every rule belongs to exactly one step manifest"


def _script_parsers(monkeypatch):
    parsers = {}
    for path in sorted((REPO / "scripts").glob("*.py")):
        made = []

        def recording(description, made=made):
            p = argparse.ArgumentParser(description=description)
            made.append(p)
            return p

        monkeypatch.setattr(cli, "parser", recording)
        spec = importlib.util.spec_from_file_location(f"s_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with pytest.raises(SystemExit):
            module.main(["--help"])
        parsers[path.stem] = made[0]
    return parsers


def test_every_cli_parameter_has_bounds(monkeypatch, capsys):
    names = set()
    for m in manifests.load_all().values():
        names |= {n.split(".")[-1] for n in m["parameter_bounds"]}
    for script, parser in _script_parsers(monkeypatch).items():
        for action in parser._actions:
            if not action.option_strings or action.dest in PLUMBING or action.type is Path:
                continue
            if isinstance(action, argparse._StoreAction) and action.type in (int, float, None) or isinstance(
                    action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                assert action.dest in names, f"scripts/{script}.py {action.option_strings[0]} has no bounds in manifests/"
