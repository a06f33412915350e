"""``python -m bench``: the project's speed against peer libraries and the machine's limit.

Usage:
    python -m bench                # the full table (about 10 minutes on 2 cores)
    python -m bench --quick        # under two minutes: fewer repeats, ART at 1 pass
    python -m bench --json         # one JSON object instead of the table
    python -m bench --markdown docs/benchmarks.md   # also write the table to a file
    python -m bench --render run.json               # the table of a saved --json run
    python -m bench --gpu          # only the GPU check (bench.gpu; --gpu --help for its flags)

Optional peers: ``pip install -r requirements-bench.txt`` then
``pip install --no-deps torchattacks==3.5.1``; a missing peer shows as 'not installed'.
"""

from __future__ import annotations

import argparse
import json
import sys

from store import OneLineParser, UsageError, write_text


def parse_args(argv=None) -> argparse.Namespace:
    p = OneLineParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a run of under two minutes")
    mode.add_argument("--smoke", action="store_true",
                      help="tiny sizes: checks the plumbing, the figures mean nothing")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--markdown", metavar="PATH", help="also write the Markdown table to PATH")
    p.add_argument("--render", metavar="JSON",
                   help="measure nothing: render the table of a saved --json output")
    p.add_argument("--skip", metavar="STAGE", action="append", default=[],
                   help="leave out a stage: presets, imagenet, imagenet-art, app or certified "
                        "(repeatable)")
    p.add_argument("--seed", type=int, default=0, help="the shared task's seed")
    p.add_argument("--gpu", action="store_true",
                   help="run only the GPU check and exit (bench.gpu: tests, EfficientNet "
                        "float32/bfloat16 ladders, universal runs; --gpu --help for its flags)")
    return p.parse_args(argv)


def load_results(path: str) -> dict:
    """A saved ``python -m bench --json`` object.

    Raises:
      ValueError: the file is missing or is not such an object.
    """
    try:
        with open(path) as f:
            results = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    if not isinstance(results, dict) or "settings" not in results or "machine" not in results:
        raise ValueError(f"{path} is not the JSON of python -m bench --json")
    return results


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--gpu" in argv:  # its own flags: the check is a separate command behind one flag
        from bench.gpu import main as gpu_main

        return gpu_main([a for a in argv if a != "--gpu"], prog="python -m bench --gpu")
    try:
        args = parse_args(argv)
    except UsageError as e:
        print(f"python -m bench: error: {e}", file=sys.stderr)
        return 2
    # as the imagenet command line does, before JAX starts its threads: XLA:CPU's large
    # temporaries are reused instead of page-faulted in anew on every call (about 1.5x on
    # EfficientNet-Lite0's forward+gradient here)
    from imagenet import keep_freed_memory

    keep_freed_memory()
    from bench.report import goals, markdown
    from bench.run import BUDGETS, run_benchmark, without

    budget = BUDGETS["quick" if args.quick else "smoke" if args.smoke else "full"]
    try:
        budget = without(budget, args.skip)
        results = load_results(args.render) if args.render else None
    except ValueError as e:
        print(f"python -m bench: error: {e}", file=sys.stderr)
        return 2
    if results is None:
        results = run_benchmark(budget, seed=args.seed)
    text = markdown(results)
    results["goals"] = [g._asdict() for g in goals(results)]
    if args.markdown:
        write_text(args.markdown, text + "\n")
    if args.json:
        print(json.dumps(finite(results), indent=1, allow_nan=False, default=_jsonable))
    else:
        print(text)
    return 0


def finite(value):
    """``value`` with every non-finite float replaced by ``None`` (JSON has no inf/nan)."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
