"""A GPU check, ready to run: ``python -m bench --gpu`` (or ``python -m bench.gpu``).

On a machine with an NVIDIA GPU, in one process:

1. the attack and ImageNet tests (``pytest -q -x -p no:cacheprovider`` on
   ``tests/test_attacks_*.py`` and ``tests/test_imagenet_*.py`` in a subprocess): pass and
   fail counts, time (``--skip-tests`` leaves them out);
2. EfficientNet-Lite0 and Lite2 forward + input gradient in float32 and bfloat16 (params
   and inputs cast; the portable ``shift`` depthwise formulation, as ``load_model``
   picks on a GPU) up a ladder of batch sizes (8, 16, ... 512; the climb stops when
   images/s stops growing or memory runs out): images/s at the best batch, GFLOP/s
   (``2 x imagenet.forward_flops`` an image) and its share of the GPU's nominal peak
   (:mod:`bench.gpu_report`);
3. whole universal-perturbation runs (``imagenet.run_universal``, ``deepfool`` =
   Algorithm 1 and ``sgd``) on a few hundred augmented bundled photos: attack images/s,
   fooling rate by pass, held-out rate, wall time;
4. ``python -m imagenet categories`` on the same photos (linf eps 4 and 10): the four
   estimated fractions, their verdict and the wall time;
5. the figures as JSON at ``--out`` (default ``gpu-bench.json``) and as a Markdown table
   beside it (``.md``), both written atomically by ``store``.

``--model tiny`` runs the same check with a tiny Flax net (:mod:`bench.tiny_net`),
small batches and few images, on any device, and skips the tests: the plumbing, not a
figure. Without a GPU the check refuses to start unless ``--model tiny`` or
``--allow-cpu``. Bad input is one line on stderr and exit code 2.

Example (the tiny net on the CPU, a few seconds):
    >>> r = gpu_check([tiny_subject()], TINY._replace(batches=(8,), methods=("sgd",)),
    ...               progress=lambda line: None)
    >>> r["forward_gradient"]["tiny"]["bfloat16"]["logits_dtype"]
    'bfloat16'
"""

from __future__ import annotations

import datetime
import glob
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from bench.gpu_measure import (GPU, TINY, CheckSettings, Subject, batch_ladder, device_info,
                               efficientnet_subject, measure_categories_run,
                               measure_forward_gradient, measure_universal_runs, tiny_subject)
from bench.gpu_report import markdown, nominal_peak
from store import OneLineParser, UsageError, write_json, write_text

__all__ = ["GPU", "TINY", "TEST_PATTERNS", "CheckSettings", "Subject", "efficientnet_subject",
           "gpu_check", "main", "output_paths", "parse_models", "parse_pytest_summary",
           "run_tests", "tiny_subject"]

ROOT = Path(__file__).resolve().parent.parent
TEST_PATTERNS = ("tests/test_attacks_*.py", "tests/test_imagenet_*.py")


def parse_pytest_summary(text: str) -> dict:
    """Counts of pytest's last summary line (``"3 passed, 1 failed, 2 skipped in 4.5s"``).

    Returns:
      ``{"passed", "failed", "errors", "skipped"}`` (0 for a count the line leaves out).
    """
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    found = [line for line in text.splitlines()
             if re.search(r"\d+ (passed|failed|errors?|skipped|no tests ran)", line)]
    for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)\b", found[-1] if found else ""):
        counts["errors" if word.startswith("error") else word] = int(n)
    return counts


def run_tests(root: str | os.PathLike = ROOT, patterns=TEST_PATTERNS, *,
              timeout: float | None = None) -> dict:
    """Runs ``pytest -q -x -p no:cacheprovider`` on the files of ``patterns`` in ``root``.

    The subprocess allocates GPU memory on demand (``XLA_PYTHON_CLIENT_PREALLOCATE=false``),
    so it and this process share the device.

    Returns:
      ``{"status" ("passed", "failed", "timed out" or "no test files"), "returncode", "passed", "failed",
      "errors", "skipped", "seconds", "files", "patterns", "summary" (pytest's last line),
      "failures" (its FAILED/ERROR lines, at most 10)}``.
    """
    files = sorted({f for p in patterns for f in glob.glob(str(Path(root) / p))})
    if not files:  # pytest without files would run the whole suite
        return {"status": "no test files", "returncode": None, **parse_pytest_summary(""),
                "seconds": 0.0, "files": 0, "patterns": list(patterns), "summary": "", "failures": []}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *files]
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        text, rc, status = done.stdout, done.returncode, "passed" if done.returncode == 0 else "failed"
    except subprocess.TimeoutExpired as e:
        text, rc, status = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), None, "timed out"
    lines = [line for line in text.splitlines() if line.strip()]
    return {"status": status, "returncode": rc, **parse_pytest_summary(text),
            "seconds": time.perf_counter() - start, "files": len(files), "patterns": list(patterns),
            "summary": lines[-1] if lines else "",
            "failures": [line for line in lines if line.startswith(("FAILED", "ERROR"))][:10]}


def gpu_check(subjects, settings: CheckSettings = GPU, *, tests: dict | None = None,
              progress: Callable[[str], None] = print) -> dict:
    """Measures ``subjects`` (forward + gradient ladders) and runs the universal attacks on the first.

    Args:
      subjects: :class:`Subject` s (:func:`efficientnet_subject`, :func:`tiny_subject`).
      settings: :data:`GPU`, :data:`TINY` or another :class:`CheckSettings`.
      tests: :func:`run_tests`'s result (run first, before this process fills the device),
        or None: recorded as skipped.
      progress: called with a line before each stage.

    Returns:
      ``{"date", "device", "versions", "nominal_peak", "models", "settings", "tests",
      "forward_gradient": {model: {dtype: ...}}, "runs", "categories", "seconds"}``.
    """
    start = time.perf_counter()
    out = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           **device_info()}
    out.update(nominal_peak=nominal_peak(out["device"]["kind"]),
               models=[s.classifier.name for s in subjects], settings=settings._asdict(),
               tests=tests or {"status": "skipped", "reason": "not asked for"},
               forward_gradient={})
    for s in subjects:
        progress(f"{s.classifier.name}: forward + input gradient, batches "
                 f"{min(settings.batches)}-{max(settings.batches)}, float32 and bfloat16")
        out["forward_gradient"][s.classifier.name] = measure_forward_gradient(s, settings,
                                                                              out["nominal_peak"])
    progress(f"{subjects[0].classifier.name}: universal runs ({', '.join(settings.methods)}), "
             f"{settings.images} + {settings.val} photos, {settings.passes} passes")
    out["runs"] = measure_universal_runs(subjects[0].classifier, settings)
    progress(f"{subjects[0].classifier.name}: the four fractions (imagenet categories), "
             f"{settings.images} + {settings.val} photos")
    out["categories"] = measure_categories_run(subjects[0].classifier, settings)
    out["seconds"] = time.perf_counter() - start
    return out


def parse_models(text: str) -> list[str]:
    """``--model``'s comma-separated names, canonical (``tiny`` alone, or EfficientNet-Lites).

    Raises:
      ValueError: an unknown name, none, or ``tiny`` mixed with others.
    """
    from imagenet import resolve_model_name

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError("--model names no model")
    if "tiny" in names:
        if len(names) > 1:
            raise ValueError("--model tiny runs alone")
        return ["tiny"]
    try:
        return list(dict.fromkeys(resolve_model_name(n) for n in names))
    except ValueError as e:
        raise ValueError(f"--model: {e} (or tiny)") from None


def output_paths(out: str) -> tuple[Path, Path]:
    """The JSON file ``--out`` and the Markdown file beside it (``.md``), checked before any work.

    Raises:
      ValueError: ``out`` is a folder, or its folder is missing or not writable.
    """
    path = Path(out)
    md = path.with_suffix(".md") if path.suffix.lower() == ".json" else path.with_name(path.name + ".md")
    folder = path.parent
    for p in (path, md):
        if p.is_dir():
            raise ValueError(f"--out: {p} is a folder; name a file, e.g. {p / 'gpu-bench.json'}")
    if not folder.is_dir():
        raise ValueError(f"--out: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--out: folder {folder} is not writable")
    return path, md


def parse_args(argv=None, prog: str = "python -m bench.gpu"):
    p = OneLineParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="lite0,lite2",
                   help="comma-separated EfficientNet-Lites (lite0, lite1, lite2), or tiny: a tiny "
                        "net on any device, small sizes, no tests")
    p.add_argument("--out", default="gpu-bench.json",
                   help="the JSON file; the Markdown table goes beside it (.md)")
    p.add_argument("--allow-cpu", action="store_true", help="run without a GPU (slow with real models)")
    p.add_argument("--skip-tests", action="store_true", help="leave out the pytest step")
    p.add_argument("--test-timeout", type=float, metavar="SECONDS",
                   help="stop the pytest step after this long (recorded as timed out)")
    p.add_argument("--max-batch", type=int, help="top of the batch ladder (default 512; 16 with tiny)")
    p.add_argument("--images", type=int, help="the runs' training photos (default 256; 16 with tiny)")
    p.add_argument("--val", type=int, help="the runs' held-out photos (default 64; 8 with tiny)")
    p.add_argument("--passes", type=int, help="the runs' passes (default 3; 2 with tiny)")
    p.add_argument("--seed", type=int, default=0, help="photo augmentation and runs' seed")
    return p.parse_args(argv)


def _settings(args, models) -> CheckSettings:
    s = TINY if models == ["tiny"] else GPU
    for flag, value in (("--max-batch", args.max_batch), ("--images", args.images),
                        ("--val", args.val), ("--passes", args.passes)):
        if value is not None and value < (0 if flag == "--val" else 1):
            raise ValueError(f"{flag} must be at least {0 if flag == '--val' else 1}, got {value}")
    if args.test_timeout is not None and not args.test_timeout > 0:
        raise ValueError(f"--test-timeout must be positive, got {args.test_timeout}")
    if args.max_batch is not None:
        s = s._replace(batches=batch_ladder(min(8, args.max_batch), args.max_batch))
    return s._replace(images=args.images or s.images, val=s.val if args.val is None else args.val,
                      passes=args.passes or s.passes, seed=args.seed)


def _progress(line: str, _start=time.perf_counter()) -> None:
    print(f"[gpu {time.perf_counter() - _start:6.1f} s] {line}", file=sys.stderr, flush=True)


def main(argv=None, prog: str = "python -m bench.gpu") -> int:
    """The command line: checks the input, runs the check, writes ``--out``; 2 on bad input."""
    try:
        args = parse_args(argv, prog)
        models = parse_models(args.model)
        json_path, md_path = output_paths(args.out)
        settings = _settings(args, models)
    except (UsageError, ValueError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # share the GPU with the tests
    from imagenet import keep_freed_memory

    keep_freed_memory()
    import jax

    if jax.default_backend() != "gpu" and not (args.allow_cpu or models == ["tiny"]):
        print(f"{prog}: error: no GPU found (JAX sees {', '.join(str(d) for d in jax.devices())}); "
              "pass --allow-cpu or --model tiny to run on it anyway", file=sys.stderr)
        return 2
    if models == ["tiny"] or args.skip_tests:
        tests = {"status": "skipped", "reason": "--model tiny" if models == ["tiny"] else "--skip-tests"}
    else:
        _progress(f"tests: pytest -q -x on {' '.join(TEST_PATTERNS)}")
        tests = run_tests(timeout=args.test_timeout)
    subjects = [tiny_subject(args.seed)] if models == ["tiny"] else [efficientnet_subject(m) for m in models]
    results = gpu_check(subjects, settings, tests=tests, progress=_progress)
    text = markdown(results)
    write_json(json_path, results, indent=1)
    write_text(md_path, text + "\n")
    print(text)
    print(f"\nwrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
