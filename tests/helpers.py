"""Helpers several test modules share: plain functions and constants (pytest collects
nothing here; the shared fixtures are in ``conftest.py``). Test modules import them from
here, never from one another, so each runs alone and pytest-xdist may put them on any
worker.
"""

from __future__ import annotations

import json
import os
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent



def xla_flags(*flags: str) -> str:
    """``$XLA_FLAGS`` as this process has it (tests/conftest.py's among them) with ``flags``
    added: what a command a test starts is given, so that it compiles as the tests do."""
    return " ".join([os.environ.get("XLA_FLAGS", ""), *flags]).strip()


# ---------------------------------------------------------------------- docs/cli.md

def documented_keys(command: str) -> tuple[set[str], set[str]]:
    """``(required, optional)`` keys of ``command``'s ``--json`` per task, as
    ``docs/cli.md`` lists them: the backticked names in its table's first column
    (several per row allowed); a row whose type says "(optional)" is optional."""
    text = (ROOT / "docs/cli.md").read_text()
    section = re.search(rf"^## `{re.escape(command)}`\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, f"docs/cli.md has no section for {command}"
    required, optional = set(), set()
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 3:
            continue  # not a row of keys (the header, its rule, prose)
        names = set(re.findall(r"`([^`]+)`", cells[0]))
        (optional if "(optional)" in cells[1] else required).update(names)
    return required, optional


def assert_documented(command: str, output: dict, *, keyed_by_task: bool = True) -> None:
    """The JSON has exactly the documented keys (optional ones may be missing): every
    task's value for the categories commands, the object itself otherwise."""
    required, optional = documented_keys(command)
    for task, value in (output.items() if keyed_by_task else [("-", output)]):
        keys = set(value)
        assert required <= keys, f"{command} {task}: documented but missing {required - keys}"
        assert keys <= required | optional, f"{command} {task}: undocumented {keys - required - optional}"


# ---------------------------------------------------------------------- the app

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app.py")
FAST = {"steps": "100", "width": "32", "depth": "2"}   # few training steps, through the URL


# AppTest.switch_page finds file pages only; the app's pages are functions given to
# st.navigation. These three are the one place that reads AppTest's private page fields.
def app_pages(at) -> list[tuple[str, str]]:
    """(url path, title) of each page ``st.navigation`` registered in ``at``'s last run."""
    return [(info["url_pathname"], info["page_name"]) for info in at._registered_pages.values()]


def open_page(at, url_path: str):
    """Switches ``at`` (after a first run) to the page served at ``/url_path``; not run yet."""
    hashes = [h for h, info in at._registered_pages.items()
              if info.get("url_pathname") == url_path]
    if len(hashes) != 1:
        raise ValueError(f"no page at /{url_path}: {app_pages(at)}")
    at._page_hash = hashes[0]
    return at


def follow_link(at, link):
    """Follows an ``st.page_link`` inside the session, as a click does: its page, its query;
    returns ``at`` after the run."""
    from urllib.parse import parse_qsl

    at.query_params.clear()
    at.query_params.update(dict(parse_qsl(link.proto.query_string)))
    at._page_hash = link.proto.page_script_hash
    return at.run()


def assert_app_ok(at) -> None:
    """The last run of an ``AppTest`` raised nothing and showed no ``st.error``."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def seed_scale_run() -> dict:
    """A run of the tiny test network where the app looks for runs (the *At full scale*
    page's AppTest and its browser test both read it); returns its categories.json."""
    from imagenet import categories_cmd
    from store import cache_dir

    out = cache_dir("fullscale", "tiny-linf")
    argv = ["--model", "imagenet_tiny:build", "--images", "4", "--val", "4", "--eps", "4,16",
            "--pgd-steps", "5", "--pgd-restarts", "1", "--passes", "1", "--out", str(out),
            "--quiet"]
    assert categories_cmd.main(argv) == 0
    return json.loads((out / "categories.json").read_text())
