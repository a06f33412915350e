"""The GPU check (``python -m bench --gpu``), end to end on the CPU with the tiny net; its
peak table, its batch ladder, its pytest step and its refusals."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from bench.__main__ import main as bench_main
from bench.gpu import parse_pytest_summary, run_tests
from bench.gpu_measure import climb, is_out_of_memory
from bench.gpu_report import PEAKS, nominal_peak
from bench.tiny_net import tiny_forward_flops

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_check_end_to_end(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    # a ladder of one batch (the climb itself is tested below on made-up rates): a compile
    # less per dtype, seconds on a busy 2-core machine
    assert bench_main(["--gpu", "--model", "tiny", "--allow-cpu", "--max-batch", "8",
                       "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert sorted(os.listdir(tmp_path)) == ["gpu.json", "gpu.md"]  # no temporary left behind
    assert {"date", "device", "versions", "nominal_peak", "models", "settings", "tests",
            "forward_gradient", "runs", "categories", "seconds"} <= set(r)
    assert r["device"]["kind"] == jax.devices()[0].device_kind
    assert r["versions"]["jax"] == jax.__version__ and r["versions"]["jaxlib"]
    assert r["tests"] == {"status": "skipped", "reason": "--model tiny"}
    assert r["models"] == ["tiny"] and r["settings"]["batches"] == [8]

    by_dtype = r["forward_gradient"]["tiny"]
    assert sorted(by_dtype) == ["bfloat16", "float32"]
    for dtype, m in by_dtype.items():
        ladder = m["ladder"]
        assert [row["batch"] for row in ladder] == [8]
        assert all(row["logits_dtype"] == row["gradient_dtype"] == dtype for row in ladder)
        best = max(ladder, key=lambda row: row["images_per_s"])
        assert m["best_batch"] == best["batch"] and m["images_per_s"] == best["images_per_s"] > 0
        assert m["logits_dtype"] == dtype
        assert m["gflops"] == pytest.approx(2 * tiny_forward_flops() * m["images_per_s"] / 1e9)
        assert (m["share_of_peak"] is None) == (m["peak_gflops"] is None)
    if r["nominal_peak"] is None:
        assert by_dtype["float32"]["share_of_peak"] is None

    runs = r["runs"]
    assert runs["model"] == "tiny" and runs["images"] == 16 and runs["val"] == 8
    assert sorted(runs["methods"]) == ["deepfool", "sgd"]
    for method, m in runs["methods"].items():
        assert 1 <= m["passes"] <= 2 and len(m["fooling_rate_history"]) == m["passes"], method
        assert m["fooling_rate"] == max(m["fooling_rate_history"])
        assert m["images_per_s"] > 0 and m["wall_s"] > 0
        assert 0 <= m["fooling_rate_heldout"] <= 1
        assert m["perturbation_linf"] <= 10.0 + 1e-5

    c = r["categories"]
    assert c["model"] == "tiny" and c["images"] == 16 and c["val"] == 8 and c["wall_s"] > 0
    assert [row["eps"] for row in c["curve"]] == [4.0, 10.0]
    for row in c["curve"]:
        lo, hi = row["random_interval"]
        assert row["random"] <= row["universal"] <= row["pointwise"]
        assert row["pointwise"] + row["robust"] == pytest.approx(1, abs=1e-12)
        assert lo <= row["random"] <= hi and row["verdict"] in (1, 2, 3, 4, "1-2")

    md = (tmp_path / "gpu.md").read_text()
    assert "| tiny | bfloat16 | none | " in md and "| deepfool | " in md and "| sgd | " in md
    assert "The four fractions (imagenet categories, tiny" in md and "\n| 10 | " in md
    assert md.strip() in capsys.readouterr().out


@pytest.mark.parametrize("kind, gpu, f32, bf16", [
    ("NVIDIA H200", "H200 SXM", 67.0, 989.5),
    ("NVIDIA H200 NVL", "H200 NVL", 60.0, 835.5),
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 67.0, 989.5),
    ("NVIDIA H100 PCIe", "H100 PCIe", 51.0, 756.5),
    ("NVIDIA A100-SXM4-80GB", "A100", 19.5, 312.0),
    ("NVIDIA A100 80GB PCIe", "A100", 19.5, 312.0),
    ("NVIDIA L4", "L4", 30.3, 121.0),
    ("NVIDIA L40S", "L40S", 91.6, 362.05),
    ("NVIDIA A10", "A10", 31.2, 125.0),
    ("Tesla V100-SXM2-16GB", "V100 SXM2", 15.7, None),
    ("Tesla V100-PCIE-32GB", "V100 PCIe", 14.0, None),
    ("Tesla T4", "T4", 8.1, None),
])
def test_nominal_peaks_by_device_kind(kind, gpu, f32, bf16):
    assert nominal_peak(kind) == {"gpu": gpu, "float32_tflops": f32, "bfloat16_tflops": bf16}


@pytest.mark.parametrize("kind", ["cpu", "NVIDIA A10G", "NVIDIA L40", "NVIDIA GeForce RTX 4090", ""])
def test_an_unknown_device_has_no_peak(kind):
    assert nominal_peak(kind) is None


def test_every_row_of_the_peak_table_is_reachable():
    names = {"NVIDIA H200", "NVIDIA H200 NVL", "NVIDIA H100 SXM5", "NVIDIA H100 NVL", "NVIDIA H100 PCIe",
             "NVIDIA A100", "NVIDIA L40S", "NVIDIA L4", "NVIDIA A10", "Tesla V100-SXM2",
             "Tesla V100-PCIE", "Tesla T4"}
    assert {nominal_peak(n)["gpu"] for n in names} == set(PEAKS)


def _oom(batch):
    raise RuntimeError(f"RESOURCE_EXHAUSTED: Out of memory while trying to allocate {batch} bytes.")


def test_the_ladder_climbs_until_images_per_second_stop_growing():
    rates = {8: 100.0, 16: 180.0, 32: 184.0, 64: 400.0}
    seen = []

    def measure(b):
        seen.append(b)
        return {"images_per_s": rates[b]}

    c = climb(measure, (8, 16, 32, 64), min_gain=0.03)
    assert seen == [8, 16, 32]                     # 184 < 1.03 * 180: stop, 64 never tried
    assert c["best_batch"] == 32 and c["best"] == {"batch": 32, "images_per_s": 184.0}
    c = climb(lambda b: {"images_per_s": rates[b]}, (8, 16, 32, 64), min_gain=0.0)
    assert c["best_batch"] == 64 and len(c["ladder"]) == 4


def test_the_ladder_stops_at_out_of_memory_and_raises_anything_else():
    def measure(b):
        return _oom(b) if b >= 32 else {"images_per_s": float(b)}

    c = climb(measure, (8, 16, 32, 64))
    assert c["ladder"][-1] == {"batch": 32, "error": "out of memory"} and len(c["ladder"]) == 3
    assert c["best_batch"] == 16
    assert climb(_oom, (8, 16))["best_batch"] is None
    assert is_out_of_memory(RuntimeError("CUDA out of memory")) and not is_out_of_memory(ValueError("shape"))
    with pytest.raises(ValueError, match="shape"):
        climb(lambda b: (_ for _ in ()).throw(ValueError("shape")), (8,))


def test_pytest_step_counts_passes_and_failures_and_stops_at_the_first(tmp_path):
    (tmp_path / "test_a.py").write_text(
        "def test_1(): pass\n\ndef test_2(): pass\n\ndef test_3(): assert 1 == 2\n\n"
        "def test_4(): pass\n")
    (tmp_path / "test_b.py").write_text("import pytest\n\n@pytest.mark.skip\ndef test_s(): pass\n")
    r = run_tests(tmp_path, ("test_*.py",), timeout=120)
    assert r["status"] == "failed" and r["returncode"] == 1 and r["files"] == 2
    assert (r["passed"], r["failed"], r["errors"]) == (2, 1, 0)    # -x: test_4 and test_b never ran
    assert r["failures"] and "test_3" in r["failures"][0]
    assert not (tmp_path / ".pytest_cache").exists()               # -p no:cacheprovider
    assert parse_pytest_summary("x\n=== 812 passed, 3 skipped, 1 error in 340.1s ===\n") == \
        {"passed": 812, "failed": 0, "errors": 1, "skipped": 3}


def test_without_a_gpu_the_check_refuses_in_one_line(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-m", "bench", "--gpu", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no GPU found" in lines[0] and "--allow-cpu" in lines[0]
    assert "Traceback" not in done.stderr and not out.exists()


@pytest.mark.parametrize("args, words", [
    (["--model", "resnet50"], "unknown model 'resnet50'"),
    (["--model", "tiny,lite0"], "tiny runs alone"),
    (["--max-batch", "0"], "--max-batch must be at least 1"),
    (["--passes", "x"], "invalid int value"),
    (["--test-timeout", "0"], "--test-timeout must be positive"),
    (["--out", "{tmp}"], "is a folder"),
    (["--out", "{tmp}/missing/gpu.json"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, words, tmp_path, capsys):
    args = [a.format(tmp=tmp_path) for a in args]
    assert bench_main(["--gpu", "--model", "tiny", *args] if "--model" not in args
                      else ["--gpu", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m bench --gpu: error:") and words in err[0]
    assert os.listdir(tmp_path) == []
