"""Data parallelism: on 4 (virtual CPU) devices the runner finds the perturbation a single device finds.

XLA_FLAGS must be set before jax is imported, so the comparison runs in a subprocess.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from helpers import xla_flags
from imagenet_tiny import write_bad_files, write_folder

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

SCRIPT = r"""
import json, sys
import jax, numpy as np
from imagenet import RunConfig, build_splits, run_universal, sharding
from imagenet_tiny import tiny_classifier

data_dir, out = sys.argv[1], sys.argv[2]
dp4 = sharding.make_data_parallel()
dp1 = sharding.make_data_parallel(jax.devices()[:1])
x = sharding.put_batch(dp4, np.zeros((8, 32, 32, 3), np.float32))
report = {"devices": len(jax.devices()), "padded": sharding.padded_batch_size(6, dp4),
          "shards": sorted({tuple(s.data.shape) for s in x.addressable_shards})}
splits = build_splits(data_dir, 17, 4, seed=1)
configs = {"deepfool-linf": RunConfig(norm="inf", eps=10.0, method="deepfool", batch=6, passes=2, target=1.0),
           "deepfool-whole": RunConfig(norm="inf", eps=10.0, method="deepfool", batch=6, chunk=6, passes=2,
                                       target=1.0),
           "sgd-l2": RunConfig(norm="2", eps=600.0, method="sgd", batch=6, passes=2, target=1.0)}
for name, config in configs.items():
    for label, dp in (("4", dp4), ("1", dp1)):
        m = run_universal(tiny_classifier(), splits, config, f"{out}/{name}-{label}", dp=dp, progress=False)
        report[f"{name}-{label}"] = {k: m[k] for k in ("devices", "fooling_rate", "fooling_rate_heldout", "skipped")}
print(json.dumps(report))
"""


def test_four_devices_match_one(tmp_path):
    root = write_folder(tmp_path / "set", 22)
    write_bad_files(root)
    env = dict(os.environ, XLA_FLAGS=xla_flags("--xla_force_host_platform_device_count=4"), JAX_PLATFORMS="cpu",
               PYTHONPATH=f"{ROOT}{os.pathsep}{TESTS}")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(root), str(tmp_path)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["devices"] == 4 and report["padded"] == 8  # batch 6 padded to 8: masked rows on two devices
    assert report["shards"] == [[2, 32, 32, 3]]  # each device holds a quarter of the batch
    # deepfool-linf: the default chunk, pieces of 2 of the 6 rows (not of the 8); whole: one update on all 8
    for name in ("deepfool-linf", "deepfool-whole", "sgd-l2"):
        four, one = report[f"{name}-4"], report[f"{name}-1"]
        assert (four["devices"], one["devices"]) == (4, 1)
        assert four["skipped"] == one["skipped"] and sum(four["skipped"].values()) > 0
        assert four["fooling_rate"] == one["fooling_rate"] > 0
        assert four["fooling_rate_heldout"] == one["fooling_rate_heldout"]
        v4 = np.load(tmp_path / f"{name}-4" / "perturbation.npy")
        v1 = np.load(tmp_path / f"{name}-1" / "perturbation.npy")
        assert np.abs(v1).max() > 0
        np.testing.assert_allclose(v4, v1, rtol=1e-5, atol=1e-4)


HOST_SCRIPT = r"""
import json, sys
from imagenet import RunConfig, build_splits, run_universal, sharding
assert sharding.initialize_distributed()  # from IMAGENET_DISTRIBUTED and JAX_* variables
import jax
from imagenet_tiny import tiny_classifier

splits = build_splits(sys.argv[1], 17, 4, seed=1)
config = RunConfig(norm="inf", eps=10.0, method="deepfool", batch=6, passes=1, target=1.0)
m = run_universal(tiny_classifier(), splits, config, sys.argv[2], progress=False)
print(json.dumps({"rows": str(sharding.local_rows(8, sharding.make_data_parallel())),
                  **{k: m[k] for k in ("devices", "processes", "fooling_rate", "skipped")}}))
"""


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_device(tmp_path):
    """Two processes (jax.distributed on localhost, 2 CPU devices each) = one device, to float32 tolerance."""
    import jax

    from imagenet import RunConfig, build_splits, run_universal, sharding
    from imagenet_tiny import tiny_classifier

    root = write_folder(tmp_path / "set", 22)
    write_bad_files(root)
    port = _free_port()
    procs = []
    for pid in range(2):
        env = dict(os.environ, XLA_FLAGS=xla_flags("--xla_force_host_platform_device_count=2"), JAX_PLATFORMS="cpu",
                   PYTHONPATH=f"{ROOT}{os.pathsep}{TESTS}", IMAGENET_DISTRIBUTED="1",
                   JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(pid))
        procs.append(subprocess.Popen([sys.executable, "-c", HOST_SCRIPT, str(root), str(tmp_path / "multi")],
                                      env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [r["rows"] for r in reports] == ["slice(0, 4, None)", "slice(4, 8, None)"]  # each decodes half
    assert all((r["devices"], r["processes"]) == (4, 2) for r in reports)

    splits = build_splits(str(root), 17, 4, seed=1)
    config = RunConfig(norm="inf", eps=10.0, method="deepfool", batch=6, passes=1, target=1.0)
    single = run_universal(tiny_classifier(), splits, config, tmp_path / "single", progress=False,
                               dp=sharding.make_data_parallel(jax.devices()[:1]))
    assert reports[0]["fooling_rate"] == single["fooling_rate"] > 0
    assert reports[0]["skipped"] == single["skipped"]
    v_multi = np.load(tmp_path / "multi" / "perturbation.npy")
    v_single = np.load(tmp_path / "single" / "perturbation.npy")
    np.testing.assert_allclose(v_multi, v_single, rtol=1e-5, atol=1e-4)
