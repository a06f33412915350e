"""The documentation's snippets run as written, in order (one namespace per page)."""

import pathlib
import re

import jax
import pytest

from helpers import ROOT, assert_documented, documented_keys

PAGES = ["docs/api.md"]


def snippets(page: str) -> list[str]:
    """The ```python blocks of a Markdown page, in order."""
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.S)


@pytest.mark.parametrize("page", PAGES)
def test_every_snippet_of_the_page_runs(page, capsys):
    blocks = snippets(page)
    assert len(blocks) >= 5
    namespace = {"__name__": f"docs_{pathlib.Path(page).stem}"}
    # optax and numpy scalars mix Python floats and int32: as users run, standard promotion
    with jax.numpy_dtype_promotion("standard"):
        for i, block in enumerate(blocks):
            try:
                exec(compile(block, f"{page} (snippet {i + 1})", "exec"), namespace)
            except Exception as e:  # noqa: BLE001 - name the snippet that failed
                raise AssertionError(f"{page}, snippet {i + 1} failed: {e!r}\n{block}") from e
    assert capsys.readouterr().out.count("\n") >= len(blocks) - 2


def test_the_key_reader_reads_the_tables():
    required, optional = documented_keys("categories certify")
    assert {"task", "points", "certified_robust", "mean_boxes"} <= required
    assert optional == {"attack_robust"}
    keys, _ = documented_keys("categories dominant")
    assert {"task", "transitions", "dominant_share"} <= keys
    assert_documented("categories dominant", {"t": dict.fromkeys(keys)})
    with pytest.raises(AssertionError, match="undocumented"):
        assert_documented("categories dominant", {"t": dict.fromkeys(keys | {"extra"})})
    with pytest.raises(AssertionError, match="missing"):
        assert_documented("categories dominant", {"t": dict.fromkeys(keys - {"task"})})


def test_the_readme_model_runs_as_written(tmp_path):
    """The README's ``mymodel.py``, saved as written, is measured by ``report --model``."""
    import json
    import os
    import subprocess
    import sys

    (block,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (tmp_path / "mymodel.py").write_text(block)
    done = subprocess.run([sys.executable, "-m", "categories", "report", "--model",
                           "mymodel:build", "--preset", "pancakes", "--points", "80", "--json",
                           "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(done.stdout)["pancakes"]
    assert r["model"] == "mymodel:build" and r["points"] == 80
    cert, exact = r["certified"], r["exact"]
    # the scan's values are witnessed flips: never above a proven upper end
    assert exact["pointwise"] <= cert["pointwise"][1] + 1e-6
    assert exact["universal"] <= cert["universal"][1] + 1e-6
    assert cert["universal"][1] - cert["universal"][0] <= 1 / 80 + 1e-9
