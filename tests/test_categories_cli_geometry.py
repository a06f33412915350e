"""The geometry subcommands: JSON keyed by preset, tables, and one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from categories.cli import main
from helpers import assert_documented

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _json(capsys, args):
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert_documented(f"categories {args[0]}", out)   # the keys docs/cli.md lists
    return out


def test_normals_json_keyed_by_preset(capsys):
    out = _json(capsys, ["normals", "--preset", "pancakes,wrinkles", "--points", "600"])
    assert set(out) == {"pancakes", "wrinkles"}
    for r in out.values():
        assert {"sigma_ratio", "random_sigma_ratio", "alignment", "angles", "within_eps"} <= set(r)
    assert out["pancakes"]["sigma_ratio"] < 0.15 < 0.8 < out["wrinkles"]["sigma_ratio"]
    assert out["pancakes"]["random_sigma_ratio"] > 0.9


def test_certify_json_and_table(capsys):
    out = _json(capsys, ["certify", "--preset", "margins,pancakes", "--norm", "inf",
                         "--points", "600", "--no-attack"])
    assert set(out) == {"margins", "pancakes"}
    for r in out.values():
        assert r["certified_robust"] <= r["exact_robust"] + 1e-6
        assert "attack_robust" not in r
    assert out["margins"]["certified_robust"] >= 0.9
    assert main(["certify", "--preset", "margins", "--points", "600", "--eps", "0.3",
                 "--no-attack"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "certified" in table[0] and table[1].startswith("margins")
    assert table[1].split()[3] == "-"          # no attack column value


def test_crossings_dominant_and_transfer_json(capsys):
    out = _json(capsys, ["crossings", "--preset", "pancakes", "--points", "600"])
    assert set(out["pancakes"]) >= {"universal", "pointwise", "random", "eps", "norm"}
    assert len(out["pancakes"]["random"]["counts"]) == 600
    out = _json(capsys, ["dominant", "--preset", "pancakes", "--points", "600", "--seed", "2"])
    assert out["pancakes"]["seed"] == 2 and sum(out["pancakes"]["counts"]) == out["pancakes"]["fooled"]
    out = _json(capsys, ["transfer", "--preset", "pancakes", "--points", "600", "--steps", "300",
                         "--family", "seeds"])
    r = out["pancakes"]
    assert len(r["names"]) == 4 and len(r["matrix"]) == 4 and len(r["diagonal"]) == 4
    assert [c["seed"] for c in r["configs"]] == [0, 1, 2, 3]
    assert min(min(row) for row in r["matrix"]) >= 0.8   # pancakes' delta transfers


@pytest.mark.parametrize("args, message", [
    (["normals", "--norm", "l3"], "unknown norm"),
    (["certify", "--eps", "-1"], "eps must be a positive number"),
    (["crossings", "--points", "0"], "--points"),
    (["dominant", "--seed", "x"], "--seed"),
    (["transfer", "--steps", "0"], "--steps"),
    (["transfer", "--family", "widths"], "invalid choice"),
    (["retrain", "--method", "fgsm"], "invalid choice"),
    (["retrain", "--rounds", "0"], "--rounds"),
    (["certify", "--preset", "nosuch"], "unknown dataset"),
    (["normals", "--method", "magic"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_module_entry_point_reports_bad_input_without_traceback():
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, "-m", "categories", "certify", "--norm", "l7"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


@pytest.mark.parametrize("command, flag, value", [
    ("report", "--eps", "abc"), ("report", "--tau", "x"), ("report", "--seed", "1.5"),
    ("report", "--points", "-3"), ("report", "--max-rows", "many"),
    ("certify", "--levels", "21"), ("retrain", "--rounds", "x"), ("retrain", "--steps", "0"),
    ("retrain", "--tau", "0"), ("transfer", "--steps", "ten"), ("crossings", "--eps", "inf"),
])
def test_a_bad_number_exits_2_with_one_line_naming_its_flag(capsys, command, flag, value):
    # checked as the arguments are parsed: before any data set is looked up
    assert main([command, "--preset", "nosuch", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} ") and repr(value) in err and err.count("\n") == 1, err


def test_numeric_flags_arrive_as_numbers():
    from categories.cli import build_parser

    args = build_parser().parse_args(["retrain", "--eps", "0.25"])
    assert (args.norm, args.eps, args.seed, args.points, args.max_rows) == ("2", 0.25, 0, 1000, 20000)
    assert (args.tau, args.rounds, args.steps) == (0.8, 3, 200)
    assert build_parser().parse_args(["transfer"]).steps is None
    assert build_parser().parse_args(["certify", "--levels", "0"]).levels == 0
