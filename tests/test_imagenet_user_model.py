"""The user's own model at full scale: ``--model MODULE:FUNCTION`` in every ``imagenet`` command.

A small Flax NNX CNN (48 px, 10 classes, random weights) is written into a module in a
temporary folder, and ``python -m imagenet run|predict|transfer|normals`` run there as a
user would run them: a fresh process whose current folder holds the module. Their
numbers are measured again with the same model. Bad ``--model`` values are one
line on stderr, exit code 2.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from imagenet import data, normals, predict, run, transfer
from imagenet.checkpoint import CHECKPOINT
from imagenet.registry import choose_model
from imagenet.splits import build_splits
from imagenet.transform import load_image, preprocess
from store import SpecError, call_spec, parse_spec, spec_slug

from helpers import xla_flags

ROOT = Path(__file__).resolve().parents[1]

# the user's module: a real NNX CNN, and builders that go wrong in each way a user's can
USER_MODULE = '''
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.tree_util import Partial

import imagenet

CLASSES = 10


class SmallCNN(nnx.Module):
    def __init__(self, rngs):
        self.conv1 = nnx.Conv(3, 8, (3, 3), strides=2, rngs=rngs)
        self.conv2 = nnx.Conv(8, 16, (3, 3), strides=2, rngs=rngs)
        self.head = nnx.Linear(16, CLASSES, rngs=rngs)

    def __call__(self, x):
        x = (x - 127.5) / 64.0
        x = jax.nn.relu(self.conv1(x))
        x = jax.nn.relu(self.conv2(x))
        return self.head(jnp.mean(x, axis=(1, 2)))


def apply(graphdef, state, x):
    return nnx.merge(graphdef, state)(x)


def build():
    graphdef, state = nnx.split(SmallCNN(nnx.Rngs(0)))
    return imagenet.Classifier("small-cnn", 48, Partial(apply, graphdef, state))


def build_wide():
    graphdef, state = nnx.split(SmallCNN(nnx.Rngs(1)))
    return imagenet.Classifier("small-cnn-64", 64, Partial(apply, graphdef, state))


def colour_logits(weights, x):
    return jnp.mean(x, axis=(1, 2)) @ weights


def named():
    weights = jnp.asarray(np.array([[1.0, -1.0, 0.5], [0.0, 1.0, -0.5], [-1.0, 0.0, 1.0]]) / 255)
    return imagenet.Classifier("colours", 16, Partial(colour_logits, weights), ("red", "green", "blue"))


def raising():
    raise ValueError("the weights file is missing")


def not_a_classifier():
    return colour_logits


def zero_resolution():
    return imagenet.Classifier("x", 0, colour_logits)


def flat_logits():
    return imagenet.Classifier("x", 8, lambda x: jnp.mean(x, axis=(1, 2, 3)))


def wrong_names():
    return named()._replace(class_names=("red", "green"))


CONSTANT = 3
'''


def user_env(folder) -> dict:
    """The environment of the user's processes in ``folder``, importing this checkout's packages.

    Compiling is nearly all a tiny model costs (XLA:CPU compiles the model's random
    initialisation op by op, seconds per command), so the commands share a JAX compilation
    cache in the folder, as a user's repeated commands may, and compile without LLVM's
    optimisations (fast to compile, and no slower to run at this size).
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_COMPILATION_CACHE_DIR=str(folder / ".jax-cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
               XLA_FLAGS=xla_flags("--xla_backend_optimization_level=0"))
    return env


def command(folder, *argv, timeout=600):
    """``python -m imagenet ARGV`` run in ``folder`` as the user runs it."""
    return subprocess.run([sys.executable, "-m", "imagenet", *map(str, argv)], cwd=folder, capture_output=True,
                          text=True, timeout=timeout, env=user_env(folder))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The user's folder: the model module and a photo."""
    root = tmp_path_factory.mktemp("user")
    (root / "mymodel.py").write_text(USER_MODULE)
    (root / "broken.py").write_text("raise RuntimeError('half-written module')\n")
    Image.fromarray(skimage.data.coffee()).save(root / "coffee.png")
    (root / "photos").mkdir()
    for name in ("coffee.png", "copy.png"):  # a quick --data for the runs that must stop before any work
        Image.fromarray(skimage.data.coffee()[::4, ::4]).save(root / "photos" / name)
    return root


# the numbers measured again, with the user's model built in a process of its own (as the commands'
# processes build it, with their compilation settings), on the images decoded here
REMEASURE = """
import json, sys
import jax, numpy as np
import attacks, mymodel
f = mymodel.build().logits_fn
arrays = np.load(sys.argv[1])
v, x, x_val, photo = arrays["v"], arrays["x"], arrays["x_val"], arrays["photo"]
print(json.dumps({"fooling_rate": float(attacks.fooling_rate(f, x, v)),
                  "fooling_rate_heldout": float(attacks.fooling_rate(f, x_val, v)),
                  "clean": np.asarray(attacks.predict(f, x)).tolist(),
                  "moved": np.asarray(attacks.predict(f, x + v)).tolist(),
                  "probs": np.asarray(jax.nn.softmax(f(photo[None]))[0]).tolist()}))
"""


def decoded(items, resolution):
    return np.stack([data.load_item(item, resolution, data.default_preprocess) for item in items])


@pytest.fixture(scope="module")
def remeasured(folder, user_run):
    """What the user's model gives on the run's images, its perturbation and the photo, measured again."""
    out, _, _ = user_run
    splits = build_splits(None, 8, 4, seed=0)
    np.savez(folder / "inputs.npz", v=np.load(out / "perturbation.npy"), x=decoded(splits.train, 48),
             x_val=decoded(splits.val, 48), photo=preprocess(load_image(folder / "coffee.png"), 48))
    done = subprocess.run([sys.executable, "-c", REMEASURE, "inputs.npz"], cwd=folder, capture_output=True,
                          text=True, timeout=600, env=user_env(folder))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def user_run(folder):
    """``run --model mymodel:build`` on 8 + 4 bundled photos, the default --out."""
    done = command(folder, "run", "--model", "mymodel:build", "--images", 8, "--val", 4, "--batch", 4,
                   "--passes", 2, "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    out = folder / "runs" / "mymodel-build-deepfool-linf"  # the folder named after MODULE:FUNCTION
    return out, json.loads((out / "metrics.json").read_text()), done.stdout


def test_run_re_measures_with_the_users_model(user_run, remeasured):
    out, metrics, stdout = user_run
    v = np.load(out / "perturbation.npy")
    assert v.shape == (48, 48, 3) and 0 < np.abs(v).max() <= 10.0 + 1e-6
    assert (metrics["model"], metrics["model_spec"], metrics["resolution"]) == ("small-cnn", "mymodel:build", 48)
    assert metrics["fooling_rate"] > 0
    assert metrics["fooling_rate"] == pytest.approx(remeasured["fooling_rate"], abs=1e-7)
    assert metrics["fooling_rate_heldout"] == pytest.approx(remeasured["fooling_rate_heldout"], abs=1e-7)
    assert f"fooling rate {metrics['fooling_rate']:.1%}" in stdout
    clean, moved = np.asarray(remeasured["clean"]), np.asarray(remeasured["moved"])
    fooled_to = np.bincount(moved[moved != clean], minlength=10)
    assert {d["label"]: d["count"] for d in metrics["dominant_labels"]} == {i: c for i, c in enumerate(fooled_to) if c}
    # 10 classes: no ImageNet name, and the photo labelled espresso (967) is no label of this model
    assert all(d["name"] == str(d["label"]) for d in metrics["dominant_labels"] + metrics["dominant_labels_heldout"])
    assert metrics["clean_accuracy"] is None and metrics["labelled_images"] == 0


def test_resume_with_another_model_is_refused_by_name(user_run, folder):
    out, _, _ = user_run
    before = (out / CHECKPOINT).read_bytes()
    done = command(folder, "run", "--model", "mymodel:build_wide", "--images", 8, "--val", 4, "--batch", 4,
                   "--out", out.relative_to(folder), "--resume", "--no-progress")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "checkpoint of the model 'mymodel:build', not 'mymodel:build_wide'" in done.stderr
    assert (out / CHECKPOINT).read_bytes() == before


def test_predict_gives_the_models_own_probabilities(folder, remeasured):
    done = command(folder, "predict", "--model", "mymodel:build", "--json", "coffee.png")
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert result["model"] == "small-cnn" and len(result["top5"]) == 5
    probs = np.asarray(remeasured["probs"])
    want = np.argsort(-probs)[:5]
    assert [i for i, _, _ in result["top5"]] == want.tolist()
    assert [name for _, name, _ in result["top5"]] == [str(i) for i in want]  # indices, not ImageNet names
    np.testing.assert_allclose([p for _, _, p in result["top5"]], probs[want], rtol=1e-5)


def test_transfer_measures_the_users_models(user_run, folder):
    out, metrics, _ = user_run
    done = command(folder, "transfer", "--perturbation", out.relative_to(folder),
                   "--models", "mymodel:build,mymodel:build_wide", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "transfer.json").read_text())
    own, wide = result["results"]
    assert (own["model"], own["resolution"], wide["model"], wide["resolution"]) == \
        ("small-cnn", 48, "small-cnn-64", 64)
    assert own["fooling_rate"] == metrics["fooling_rate_heldout"]  # the diagonal: the run's own number
    assert own["images_used"] == wide["images_used"] == 4
    v64 = transfer.resize_perturbation(np.load(out / "perturbation.npy"), 64)
    assert wide["perturbation_norm"]["linf"] == pytest.approx(float(np.abs(v64).max())) and v64.shape == (64, 64, 3)
    assert result["source_model"] == "small-cnn" and own["clean_accuracy"] is None


def test_normals_of_the_users_model(folder):
    done = command(folder, "normals", "--model", "mymodel:build", "--images", 4, "--batch", 4, "--top-k", 3,
                   "--out", "normals", "--json", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["model"], result["resolution"], result["images"]) == ("small-cnn", 48, 4)
    assert 2 <= result["count"] <= 4 and len(result["singular"]) == result["count"]
    assert 0 < result["sigma_ratio"] <= 1 and result["median_l2"] > 0
    assert json.loads((folder / "normals" / "normals.json").read_text())["count"] == result["count"]


def test_a_classifier_carrying_names_shows_them(folder, monkeypatch):
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader puts the current folder first
    try:
        (result,) = predict.predict_files([str(folder / "coffee.png")], "mymodel:named")
    finally:
        sys.modules.pop("mymodel", None)
    assert len(result["top5"]) == 3  # top-5 of 3 classes: all three
    assert sorted(name for _, name, _ in result["top5"]) == ["blue", "green", "red"]
    assert sum(p for _, _, p in result["top5"]) == pytest.approx(1.0, abs=1e-5)


BAD_MODELS = [
    ("mymodel", "--model: unknown model 'mymodel'; choose one of efficientnet-lite0"),
    ("mymodel:", "--model: 'mymodel:' is not MODULE:FUNCTION"),
    ("nosuch.module:build", "--model: module 'nosuch.module' not found in the current folder"),
    ("broken:build", "--model: importing 'broken' failed: RuntimeError: half-written module"),
    ("mymodel:nothing", "--model: module 'mymodel' has no 'nothing'"),
    ("mymodel:CONSTANT", "--model: mymodel:CONSTANT is not a function (it is of type int)"),
    ("mymodel:raising", "--model: mymodel:raising() raised ValueError: the weights file is missing"),
    ("mymodel:not_a_classifier", "--model: mymodel:not_a_classifier() returned a function, expected an "
                                 "imagenet.Classifier"),
    ("mymodel:zero_resolution", "whose resolution is 0, expected a positive int"),
    ("mymodel:flat_logits", "logits_fn gave float32[1] on one image f32[1, 8, 8, 3], expected float logits of "
                            "shape [1, classes]"),
    ("mymodel:wrong_names", "class_names must be a list or tuple of 3 str"),
]


@pytest.mark.parametrize("spec,message", BAD_MODELS)
def test_a_bad_model_is_one_line_exit_2(spec, message, folder, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        code = run.main(["--model", spec, "--data", "photos", "--images", "2", "--val", "0",
                         "--out", str(tmp_path / "out"), "--no-progress"])
    finally:
        for name in ("mymodel", "broken"):
            sys.modules.pop(name, None)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    assert message in err, err
    assert not (tmp_path / "out").exists()  # the run created nothing it leaves behind


@pytest.mark.parametrize("main,argv", [
    (predict.main, ["--model", "mymodel:raising", "coffee.png"]),
    (normals.main, ["--model", "mymodel:raising", "--data", "photos", "--images", "2", "--out", "n"]),
    (transfer.main, ["--perturbation", "p.npy", "--models", "mymodel:raising,lite0", "--data", "photos",
                     "--images", "2", "--quiet"]),
])
def test_every_command_reports_a_bad_model_in_one_line(main, argv, folder, monkeypatch, capsys):
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", list(sys.path))
    np.save(folder / "p.npy", np.zeros((48, 48, 3), np.float32))
    try:
        code = main(argv)
    finally:
        sys.modules.pop("mymodel", None)
    err = capsys.readouterr().err.strip()
    flag = "--models" if main is transfer.main else "--model"
    assert code == 2 and err == f"error: {flag}: mymodel:raising() raised ValueError: the weights file is missing"


def test_a_bad_model_from_the_shell_has_no_traceback(folder):
    done = command(folder, "run", "--model", "mymodel:flat_logits", "--data", "photos", "--images", 2, "--val", 0,
                   "--out", "never")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: --model: mymodel:flat_logits(): logits_fn gave float32[1]")
    assert not (folder / "never").exists()


def test_spec_parsing_and_folder_names():
    assert parse_spec(" pkg.mod:Models.build ") == ("pkg.mod", "Models.build")
    assert spec_slug("pkg.mod:build") == "pkg.mod-build" and spec_slug("a:b/../c") == "a-b_.._c"
    for bad in ("no_colon", ":build", "mod:", "a:b:c", "1mod:build", "mod:build()"):
        with pytest.raises(SpecError, match="MODULE:FUNCTION"):
            parse_spec(bad, flag="--model")
    with pytest.raises(SpecError, match="^--model: module 'surely_absent_module_xyz' not found"):
        call_spec("surely_absent_module_xyz:build", flag="--model")
    # the registered names are entries of the same choice, their folders and resolutions as before
    assert choose_model("LITE2") == ("efficientnet-lite2", "efficientnet-lite", 260)
    assert choose_model("efficientnet-lite0").folder == "efficientnet-lite0"
    assert choose_model("pkg.mod:build").folder == "pkg.mod-build"
