"""The command lines as a user meets them: help texts, tables, progress, reasons."""

import re

import numpy as np
import pytest

from categories import class_gaps
from categories.cli import SUBCOMMANDS, build_parser, main
from categories.cli.retrain import why_unchanged
from categories.report import format_table


def _help(argv) -> str:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(argv)
    assert done.value.code == 0
    return done


def _assert_each_flag_helped_once(text: str, command: str, *, at_least: int) -> None:
    """Every option of a --help text has a help text naming its default at most once."""
    assert "(default: None)" not in text
    # one block of help per option: the lines from one "  --flag" to the next
    blocks = re.split(r"\n  (?=-)", text.split("options:", 1)[1])[1:]
    assert len(blocks) >= at_least
    for block in blocks:
        flag = block.split()[0]
        assert len(block.split()) > 2, f"{command} {flag} has no help text"
        assert block.count("default") <= 1, f"{command} {flag}: {block}"


@pytest.mark.parametrize("command", list(SUBCOMMANDS))
def test_every_flag_has_help_and_names_its_default_once(command, capsys):
    _help([command, "--help"])
    text = capsys.readouterr().out
    _assert_each_flag_helped_once(text, command, at_least=9)
    parser_defaults = {a.dest: a.default for a in build_parser()._subparsers._group_actions[0]
                       .choices[command]._actions}
    assert "(default: 1000)" in text and parser_defaults["points"] == "1000"


def _report(name, exact):
    return {"expected": None, "verdict": 2, "clean_accuracy": 1.0, "exact": exact,
            "attack": exact, "norm": "2", "tau": 0.8, "seed": 0, "eps": 0.1}


def test_report_table_columns_line_up_for_any_task_name():
    exact = {"robust": 0.25, "pointwise": 0.75, "universal": 0.5, "random": 0.125}
    names = ["a", "a-very-long-data-set-name-from-a-csv.csv"]
    lines = format_table({n: _report(n, exact) for n in names}).splitlines()
    rows = [lines[0]] + lines[2:4]
    starts = {line.index("robust") if i == 0 else line.index("0.250") for i, line in enumerate(rows)}
    ends = {len(line) for line in rows[1:]}
    assert len(ends) == 1 and max(starts) - min(starts) <= 8
    assert lines[2].index("2") == lines[3].index("2")  # the verdict column


def test_class_gaps_are_the_distances_to_the_nearest_other_class():
    x = np.array([[0.0, 0.0], [0.3, 0.4], [1.0, 0.0], [0.0, 2.0]])
    y = np.array([0, 1, 0, 0])
    np.testing.assert_allclose(class_gaps(x, y, norm="2"), [0.5, 0.5, np.hypot(0.7, 0.4),
                                                             np.hypot(0.3, 1.6)])
    np.testing.assert_allclose(class_gaps(x, y, norm="inf"), [0.4, 0.4, 0.7, 1.6])
    assert np.isinf(class_gaps(x, np.zeros(4), norm="2")).all()


def test_an_unchanged_category_comes_with_its_reason():
    side = {"verdict": 3, "fractions": {"robust": 0.0, "pointwise": 1.0, "universal": 0.95,
                                        "random": 0.3}}
    r = {"before": side, "after": side, "eps": 0.15, "classes_within_2eps": 0.976}
    text = why_unchanged("pancakes", r)
    assert "98% of D" in text and "2 eps = 0.3" in text and "no retraining" in text
    after = dict(side, fractions=dict(side["fractions"], universal=0.9))
    text = why_unchanged("x", dict(r, after=after, classes_within_2eps=0.1))
    assert "moved by at most 0.050" in text and "--rounds" in text


def test_progress_names_the_task_and_its_stage_on_stderr(capsys):
    assert main(["dominant", "--preset", "margins", "--points", "100"]) == 0
    captured = capsys.readouterr()
    assert "margins: training" in captured.err
    assert "margins: following the universal delta" in captured.err
    assert "dominant" in captured.out
    assert main(["dominant", "--preset", "margins", "--points", "100", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    # --json with stderr not a terminal (as here): no bar either
    assert main(["dominant", "--preset", "margins", "--points", "100", "--json"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", ["run", "predict", "transfer", "normals"])
def test_every_imagenet_flag_has_help_and_names_its_default_once(command):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "imagenet", command, "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    _assert_each_flag_helped_once(done.stdout, f"imagenet {command}", at_least=4)
