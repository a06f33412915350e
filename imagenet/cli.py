"""``python -m imagenet <command> ...``: dispatch to one module per subcommand.

Each subcommand lives in its own module exposing ``main(argv) -> int`` that parses
its own arguments, so commands stay independent (and import only what they need).
Bad input is reported as one line on stderr with exit code 2.
"""

from __future__ import annotations

import importlib
import sys

# subcommand -> module with main(argv: list[str]) -> int
COMMANDS = {
    "predict": "imagenet.predict",
    "run": "imagenet.run",
    "transfer": "imagenet.transfer",
    "normals": "imagenet.normals",
    "categories": "imagenet.categories_cmd",
}

USAGE = "usage: python -m imagenet {" + ",".join(COMMANDS) + "} ... (add --help after a command for its options)"


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand named by ``argv[0]``; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    # before JAX starts its threads: XLA:CPU's large buffers are then reused, not page-faulted in anew
    from imagenet.cpu_memory import keep_freed_memory

    keep_freed_memory()
    return importlib.import_module(COMMANDS[command]).main(rest)
