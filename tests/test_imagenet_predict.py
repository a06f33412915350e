"""``python -m imagenet predict``: top-5 output, JSON, and one-line errors with exit code 2."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from efficientnet_reference import SIGMAS, U32, reference_net, rounded_logits
from helpers import assert_documented
from imagenet import predict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    coffee, cat = folder / "coffee.png", folder / "chelsea.jpg"
    Image.fromarray(skimage.data.coffee()).save(coffee)
    Image.fromarray(skimage.data.chelsea()).save(cat, quality=95)
    return str(coffee), str(cat)


def run_cli(*args, cache):
    env = dict(os.environ, ROBUSTNESS_CACHE=str(cache), PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "imagenet", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def test_predict_files_top5(image_files, weight_cache):
    results = predict.predict_files(list(image_files), "lite0", cache_dir=weight_cache)
    coffee, cat = results
    assert [r["image"] for r in results] == list(image_files)
    assert coffee["model"] == "efficientnet-lite0"
    assert coffee["top5"][0][:2] == [967, "espresso"] and coffee["top5"][0][2] > 0.9
    assert 281 <= cat["top5"][0][0] <= 285
    for result in results:
        probs = [p for _, _, p in result["top5"]]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert len({i for i, _, _ in result["top5"]}) == 5
    text = predict.format_text(results)
    assert "espresso" in text and text.count("\n") == 11


def test_predict_batches_agree_with_single_images(weight_cache, monkeypatch):
    """Padding the last batch does not change any image's result."""
    monkeypatch.setattr(predict, "BATCH", 2)
    from imagenet import load_model, preprocess

    clf = load_model("lite0", cache_dir=weight_cache)
    x = np.stack([preprocess(skimage.data.coffee(), 224), preprocess(skimage.data.chelsea(), 224)])
    x = np.concatenate([x, x[:1]])  # 3 images: one full batch of 2 and one padded batch
    indices, probs = predict.predict_images(clf, x)
    single_i, single_p = predict.predict_images(clf, x[:1])
    assert indices.shape == (3, 5) and indices[0, 0] == 967 and indices[1, 0] != 967
    # Each float32 pass is within SIGMAS sigma of the exact logits (efficientnet_reference's rounding
    # model), so a logit moves by at most d = twice that between the two, and a probability,
    # exp(z_i - logsumexp z), by a factor within exp(+-2d), then softmax's own few ulps.
    with torch.no_grad():
        exact, sigma = rounded_logits(reference_net("efficientnet-lite0", torch.float64),
                                      torch.as_tensor(x[:1]).double())
    d = 2 * SIGMAS * float(sigma.max())
    ranked = np.sort(exact.numpy()[0])[::-1][:6]
    assert (np.diff(-ranked) > 2 * d).all()  # the top 5 and their order are decided for coffee
    np.testing.assert_array_equal(indices[[0, 2]], np.broadcast_to(single_i, (2, 5)))
    np.testing.assert_allclose(probs[[0, 2]], np.broadcast_to(single_p, (2, 5)), rtol=np.expm1(2 * d) + 8 * U32)


@pytest.mark.slow
def test_cli_json_one_object_per_image(image_files, weight_cache):
    proc = run_cli("predict", "--model", "lite0", "--json", *image_files, cache=weight_cache)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert_documented("imagenet predict", first, keyed_by_task=False)   # docs/cli.md
    assert first["image"] == image_files[0]
    index, name, prob = first["top5"][0]
    assert (index, name) == (967, "espresso") and 0.9 < prob <= 1


@pytest.mark.parametrize("args,message", [
    (("predict", "--model", "resnet50", "X"), "unknown model 'resnet50'"),
    (("predict", "no/such/image.png"), "image not found: no/such/image.png"),
    (("predict", "pytest.ini"), "pytest.ini: not an image"),
    (("predict", "tests"), "tests is a folder, not an image file"),
    (("nosuchcommand",), "unknown command 'nosuchcommand'"),
])
def test_cli_bad_input_is_one_line_exit_2(args, message, tmp_path):
    proc = run_cli(*args, cache=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []  # failed before converting any weights
