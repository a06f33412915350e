"""The one image policy: modes and bit depths, size limits from the header, one message per refusal."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagenet import data, images, predict
from imagenet.transform import load_image
from imagenet_tiny import smooth_image, write_big_png, write_float_rgb_tiff

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, cache):
    env = dict(os.environ, ROBUSTNESS_CACHE=str(cache), PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")
    return subprocess.run([sys.executable, "-m", "imagenet", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path):
    """A 16-bit gradient stays a gradient (it used to be 99.6% white)."""
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (40, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    for read in (images.read_image, load_image, data.decode):  # predict's, the policy's, run's
        out = read(str(tmp_path / "ramp.png"))
        assert out.dtype == np.uint8 and out.shape == (40, 256, 3)
        np.testing.assert_array_equal(out[0, :, 0], np.round(ramp[0] / 257.0).astype(np.uint8))
        assert np.mean(out == 255) < 0.01


def test_every_accepted_mode_becomes_rgb(tmp_path):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(smooth_image(rng, 40, 48))
    made = {"L": rgb.convert("L"), "1": rgb.convert("1"), "P": rgb.convert("P"), "RGBA": rgb.convert("RGBA"),
            "LA": rgb.convert("LA"), "CMYK": rgb.convert("CMYK"), "I": rgb.convert("I")}
    for mode, im in made.items():
        path = tmp_path / (f"{mode}.jpg" if mode == "CMYK" else f"{mode}.png" if mode != "I" else "i.tif")
        im.save(path)
        out = images.read_image(path)
        assert out.shape == (40, 48, 3) and out.dtype == np.uint8, mode
    opaque = images.read_image(tmp_path / "RGBA.png")
    np.testing.assert_array_equal(opaque, np.asarray(rgb))


def test_float_images_are_refused_with_one_message(tmp_path):
    Image.fromarray(np.ones((40, 40), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(images.ImageRefused, match="mode F are not supported") as e:
        images.read_image(tmp_path / "f.tif")
    assert e.value.reason == "decode_error" and "\n" not in str(e.value)
    assert str(e.value).endswith(f"the modes read are {images.MODES_READ}: save it as 8-bit RGB")


def test_a_float_rgb_tiff_is_told_which_modes_are_read(tmp_path):
    """Pillow cannot open a floating-point RGB TIFF at all: the message says it is a TIFF of a
    pixel format not read, and lists the modes that are, not "not an image"."""
    path = write_float_rgb_tiff(tmp_path / "hdr.tif")
    with pytest.raises(images.ImageRefused) as e:
        images.read_image(path)
    assert str(e.value) == (f"{path}: a TIFF of a pixel format Pillow does not read (floating-point RGB, for "
                            f"one); the modes read are 1-bit, 8- and 16-bit grayscale, palette, RGB, CMYK, "
                            f"YCbCr, LAB and HSV (the 8-bit ones with or without alpha): save it as 8-bit RGB")
    assert e.value.reason == "decode_error"
    (tmp_path / "notes.tif").write_text("not a TIFF\n")
    with pytest.raises(images.ImageRefused, match="not an image \\(no format Pillow reads\\)"):
        images.read_image(tmp_path / "notes.tif")


@pytest.mark.parametrize("size, reason, message", [
    ((1, 1), "too_small", "1x1 is too small, the short side must be at least 32 px"),
    ((31, 200), "too_small", "31x200 is too small"),
    ((12000, 12000), "too_large", "12000x12000 is 144 megapixels, more than the limit of 40"),
    ((20000, 20000), "too_large", "megapixels"),  # Pillow's own bomb check fires first
])
def test_size_limits_are_read_from_the_header(tmp_path, size, reason, message):
    path = write_big_png(tmp_path / "x.png", *size)
    for read in (images.read_image, data.decode, load_image):
        with pytest.raises(images.ImageRefused, match=message) as e:
            read(str(path))
        assert e.value.reason == reason and "\n" not in str(e.value)


def test_a_12000_pixel_square_is_refused_in_bounded_memory(tmp_path):
    """The header check refuses before any pixel is decoded: the process stays small."""
    path = write_big_png(tmp_path / "big.png", 12000, 12000)
    # VmHWM: this process's own peak (ru_maxrss would count the parent's pages at the fork)
    code = ("import sys; from imagenet.images import read_image, ImageRefused\n"
            "try:\n    read_image(sys.argv[1])\nexcept ImageRefused as e:\n    print(e.reason)\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600)
    assert done.returncode == 0, done.stderr
    reason, kilobytes = done.stdout.split()
    assert reason == "too_large" and int(kilobytes) < 300_000, done.stdout  # decoding would take 144 MB+


def test_predict_and_run_refuse_the_same_files_with_the_same_message(tmp_path):
    (tmp_path / "notes.jpg").write_text("a text file named .jpg\n")
    Image.fromarray(smooth_image(np.random.default_rng(1), 8, 12)).save(tmp_path / "thumb.png")
    for name in ("notes.jpg", "thumb.png"):
        path = str(tmp_path / name)
        with pytest.raises(images.ImageRefused) as by_predict:
            load_image(path)
        with pytest.raises(data.DecodeFailure) as by_run:
            data.decode(path)
        assert str(by_predict.value) == str(by_run.value) and by_predict.value.reason == by_run.value.reason


def test_predict_cli_refusals_are_one_line_exit_2_before_the_model_loads(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_big_png(tmp_path / "bomb.png", 20000, 20000)
    write_big_png(tmp_path / "dot.png", 1, 1)
    (tmp_path / "notes.jpg").write_text("text\n")
    cache = tmp_path / "cache"
    cases = [(str(folder), "is a folder, not an image file"), (str(tmp_path / "bomb.png"), "megapixels"),
             (str(tmp_path / "dot.png"), "1x1 is too small"), (str(tmp_path / "notes.jpg"), "not an image")]
    for path, message in cases:
        proc = _cli("predict", path, cache=cache)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: ") and proc.stderr.strip().count("\n") == 0, proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not cache.exists()  # refused before converting any weights


def test_predict_progress_bar_only_with_more_than_one_batch(tmp_path, weight_cache, capsys, monkeypatch):
    import skimage.data

    paths = []
    for name in ("coffee", "chelsea", "astronaut"):
        paths.append(str(tmp_path / f"{name}.png"))
        Image.fromarray(getattr(skimage.data, name)()).save(paths[-1])
    monkeypatch.setattr(predict, "BATCH", 2)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert predict.main([*paths, "--cache-dir", str(weight_cache)]) == 0
    assert "predict efficientnet-lite0" in capsys.readouterr().err
    assert predict.main([*paths, "--cache-dir", str(weight_cache), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert predict.main([paths[0], "--cache-dir", str(weight_cache)]) == 0  # one batch: no bar
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert predict.main([*paths, "--cache-dir", str(weight_cache), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and len(captured.out.splitlines()) == 3
