"""Files: the one cache directory (and JAX's compiled programs, kept there and released from
memory before the kernel's limit of mappings), atomic ``.npz``/``.json``/bytes writes, content
hashes; the command lines' one-line errors, and the user's ``--model MODULE:FUNCTION``
imported and called.

The bottom of the project: it imports nothing of the project, and every other package
writes its files through it, so a reader or a resumed run sees either the old complete
file or the new complete file, never a half-written one, and nothing is pickled.

Example:
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> save_npz(path, {"x": np.arange(3)}, meta={"seed": 0})
    >>> arrays, meta = load_npz(path)
    >>> arrays["x"].tolist(), meta
    ([0, 1, 2], {'seed': 0})
"""

from store.atomic import atomic_file, write_bytes, write_json, write_text
from store.cache import cache_dir, cache_root, enable_compilation_cache, release_compiled_programs
from store.cli import DefaultsOnceFormatter, OneLineParser, UsageError, run_main
from store.digest import config_digest, content_digest
from store.modelspec import SpecError, call_spec, import_spec, one_line, parse_spec, spec_slug
from store.npz import load_npz, npz_bytes, save_npz

__all__ = ["DefaultsOnceFormatter", "OneLineParser", "SpecError", "UsageError", "atomic_file", "cache_dir",
           "cache_root", "call_spec", "enable_compilation_cache", "config_digest", "content_digest", "import_spec", "load_npz", "npz_bytes",
           "one_line", "parse_spec", "release_compiled_programs", "run_main", "save_npz", "spec_slug", "write_bytes", "write_json", "write_text"]
