"""The foundation's acceptance: every preset lands in its category, with margin."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from categories import verdict
from categories.cli import main
from helpers import assert_documented
from categories.report import report_task
from toymodels import PRESETS

ROOT = pathlib.Path(__file__).resolve().parent.parent

MARGINS = {
    "margins": lambda e: e["robust"] >= 0.95,
    "wrinkles": lambda e: e["pointwise"] >= 0.9 and e["universal"] <= 0.5,
    "pancakes": lambda e: e["universal"] >= 0.9 and e["random"] <= 0.5,
    "bubbles": lambda e: e["random"] >= 0.9,
}
KEYS = ("robust", "pointwise", "universal", "random")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("norm", ["2", "inf"])
def test_each_preset_lands_in_its_category_with_margin(norm, seed):
    for name in PRESETS:
        # the brackets of every preset are proven in test_categories_certified
        r = report_task(name, norm=norm, seed=seed, n_points=600, certified=False)
        assert r["certified"] is None
        assert r["verdict"] == r["expected"], (name, r["exact"])
        assert MARGINS[name](r["exact"]), (name, r["exact"])
        assert r["clean_accuracy"] >= 0.99, (name, r["clean_accuracy"])
        for kind in ("exact", "attack"):
            f = r[kind]
            assert f["random"] <= f["universal"] + 1e-6 <= f["pointwise"] + 2e-6, (name, kind, f)
            assert abs(f["robust"] + f["pointwise"] - 1) < 1e-6
        # attacks find lower bounds of the exact pointwise and universal fractions
        assert r["attack"]["pointwise"] <= r["exact"]["pointwise"] + 0.01, (name, r)
        assert r["attack"]["universal"] <= r["exact"]["universal"] + 0.01, (name, r)
        assert r["attack_verdict"] == r["expected"], (name, r["attack"])


def test_json_report_has_the_promised_keys_and_is_bit_identical(capsys):
    args = ["report", "--preset", "pancakes,margins", "--norm", "inf", "--seed", "4", "--json",
            "--points", "300"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args + ["--retrain"]) == 0
    assert capsys.readouterr().out == first
    out = json.loads(first)
    assert set(out) == {"pancakes", "margins"}
    assert_documented("categories report", out)
    for name, r in out.items():
        assert r["expected"] == PRESETS[name].expected
        assert r["verdict"] == verdict(r["exact"], r["tau"]) == PRESETS[name].expected
        assert r["attack_verdict"] == verdict(r["attack"], r["tau"])
        assert 0 <= r["clean_accuracy"] <= 1
        for kind in ("exact", "attack"):
            assert set(r[kind]) == set(KEYS)


def test_table_output(capsys):
    assert main(["report", "--preset", "margins", "--points", "200"]) == 0
    out = capsys.readouterr().out
    assert "margins" in out and "robust" in out and "exact / attack" in out


@pytest.mark.parametrize("args, message", [
    (["--preset", "nope"], "unknown dataset 'nope'"),
    (["--eps", "0"], "eps must be a positive number"),
    (["--eps", "-1"], "eps must be a positive number"),
    (["--eps", "abc"], "eps must be a positive number"),
    (["--eps", "nan"], "eps must be a positive number"),
    (["--norm", "1"], "norm"),
    (["--tau", "0"], "tau must be in (0, 1]"),
    (["--tau", "1.5"], "tau must be in (0, 1]"),
    (["--seed", "x"], "--seed must be a whole number"),
    (["--seed", "-1"], "--seed must be a whole number from 0 to 2147483647"),
    (["--seed", str(2 ** 64)], "--seed must be a whole number from 0 to 2147483647"),
    (["--points", "0"], "--points must be a whole number"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_input_is_one_line_exit_2(args, message, capsys):
    assert main(["report"] + args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("content, message", [
    ("a,b\n1,2\n", "missing column"),
    ("x,y,label\n1,zz,0\n2,2,1\n", "not a number"),
    ("x,y,label\n1,nan,0\n2,2,1\n", "only finite numbers"),
    ("x,y,label\n1,1,0\n2,2,0\n", "one class only"),
    ("x,y,label\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(30)), "more than 20 rows, the limit set by --max-rows"),
])
def test_bad_csv_from_the_command_line(tmp_path, content, message, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    argv = ["report", "--csv", str(path), "--max-rows", "20"]
    if "missing column" in message:
        # one through a real process: exit code and stderr as a shell sees them
        proc = subprocess.run([sys.executable, "-m", "categories", *argv], capture_output=True,
                              text=True, timeout=120)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        code = main(argv)
        out, err = capsys.readouterr()
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_good_csv_report(tmp_path):
    rows = "".join(f"{i % 10},{i // 10},{int(i % 10 > 4)}\n" for i in range(100))
    path = tmp_path / "ok.csv"
    path.write_text("x,y,label\n" + rows)
    assert main(["report", "--csv", str(path), "--eps", "0.05", "--json"]) == 0


def test_report_carries_certified_brackets_beside_the_exact_values(capsys):
    assert main(["report", "--preset", "wrinkles", "--norm", "2", "--points", "300",
                 "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["wrinkles"]
    assert set(r["certified"]) == set(KEYS)
    for k in KEYS:
        lo, hi = r["certified"][k]
        assert 0 <= lo <= hi <= 1
    for k in ("pointwise", "universal"):
        lo, hi = r["certified"][k]
        assert hi - lo <= 1 / 300 + 1e-9 and r["exact"][k] <= hi + 1e-6
    assert r["certified"]["random"][1] - r["certified"]["random"][0] <= 0.005 + 1e-9
    assert main(["report", "--preset", "wrinkles", "--norm", "2", "--points", "300"]) == 0
    assert "width" in capsys.readouterr().out


USER_MODEL = '''
import jax.numpy as jnp


def build():
    """Class 0 right of the line x = 0, class 1 left of it: rho(I) = |x| in every norm."""
    return lambda x: jnp.stack([x[:, 0], -x[:, 0]], 1)


def one_logit():
    return lambda x: x[:, :1]


def sorted_inputs():
    return lambda x: jnp.sort(x, axis=1) @ jnp.eye(2)
'''


def test_report_on_your_own_model_from_another_folder(tmp_path):
    (tmp_path / "mymodel.py").write_text(USER_MODEL)
    rng = np.random.default_rng(0)
    n, eps = 200, 0.1
    d = rng.uniform(0.005, 0.4, n)                  # each point's distance to the line
    side = np.where(np.arange(n) % 3 == 0, -1.0, 1.0)
    x = np.stack([side * d, rng.uniform(-1, 1, n)], 1)
    label = (side < 0).astype(int)
    label[:10] = 1 - label[:10]                     # ten points the model gets wrong
    rows = "".join(f"{a:.17g},{b:.17g},{c}\n" for (a, b), c in zip(x, label))
    (tmp_path / "mine.csv").write_text("x,y,label\n" + rows)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "categories", "report", "--model",
                           "mymodel:build", "--csv", "mine.csv", "--eps", str(eps), "--json",
                           "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    (r,) = json.loads(done.stdout).values()
    assert r["model"] == "mymodel:build" and r["expected"] is None
    correct = np.arange(n) >= 10
    assert r["clean_accuracy"] == pytest.approx(correct.mean())
    # closed forms on the correct points: rho = |x|, the best delta moves one side across
    near = (d <= eps) & correct
    pointwise = near.sum() / correct.sum()
    universal = max((near & (side > 0)).sum(), (near & (side < 0)).sum()) / correct.sum()
    t = np.minimum(d[correct] / eps, 1.0)
    random = (np.arccos(t) / np.pi).mean()           # the arc of the circle across the line
    lo, hi = r["certified"]["pointwise"]
    assert lo == hi == pytest.approx(pointwise) == pytest.approx(r["exact"]["pointwise"])
    lo, hi = r["certified"]["universal"]
    assert lo == hi == pytest.approx(universal) == pytest.approx(r["exact"]["universal"])
    lo, hi = r["certified"]["random"]
    assert lo - 1e-9 <= random <= hi + 1e-9 and hi - lo <= 0.005
    assert r["verdict"] == verdict(r["exact"], r["tau"])
    # the model's own mistakes: each one line, exit code 2, no traceback
    for spec, says in (("mymodel:one_logit", "gives 1 logit per point, but the data has 2"),
                       ("mymodel:sorted_inputs", "primitive 'sort'"),
                       ("mymodel:nothing", "has no 'nothing'")):
        bad = subprocess.run([sys.executable, "-m", "categories", "report", "--model", spec,
                              "--csv", "mine.csv", "--quiet"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
        assert says in bad.stderr and "Traceback" not in bad.stderr
