"""The command lines' one ``main`` (:func:`store.run_main`) and one parser: every outcome an
exit code and at most one line on stderr, never a traceback."""

import errno

import pytest

from store import OneLineParser, UsageError, run_main


def _parse(argv):
    p = OneLineParser(prog="demo")
    p.add_argument("--n", type=int, default=1)
    return p.parse_args(argv)


def _fails(err):
    def work(args):
        raise err
    return work


def test_a_good_run_prints_what_show_makes_and_returns_0(capsys):
    assert run_main(["--n", "4"], _parse, lambda a: a.n * 2, lambda a, r: f"{a.n} -> {r}") == 0
    assert capsys.readouterr() == ("4 -> 8\n", "")
    # show may print nothing (a host that is not the first)
    assert run_main([], _parse, lambda a: a.n, lambda a, r: None) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("argv, work, line", [
    (["--n", "x"], lambda a: 0, "error: argument --n: invalid int value: 'x'"),
    ([], _fails(UsageError("--eps must be positive")), "error: --eps must be positive"),
    ([], _fails(ValueError("row 3: x is inf\n(fix the file)")), "error: row 3: x is inf (fix the file)"),
    ([], _fails(OSError(errno.ENOSPC, "No space left on device")),
     "error: [Errno 28] No space left on device; free some"),
])
def test_bad_input_is_one_line_and_exit_code_2(argv, work, line, capsys):
    assert run_main(argv, _parse, work, lambda a, r: "never", disk_hint="free some") == 2
    out, err = capsys.readouterr()
    assert out == "" and err == line + "\n"


def test_the_disk_hint_follows_only_an_os_error(capsys):
    assert run_main([], _parse, _fails(ValueError("bad")), lambda a, r: "", disk_hint="x") == 2
    assert capsys.readouterr().err == "error: bad\n"


def test_ctrl_c_is_one_line_and_exit_code_130(capsys):
    assert run_main([], _parse, _fails(KeyboardInterrupt()), lambda a, r: "",
                    interrupted="interrupted; add --resume") == 130
    assert capsys.readouterr().err == "interrupted; add --resume\n"


def test_a_bug_is_not_dressed_as_bad_input():
    with pytest.raises(ZeroDivisionError):
        run_main([], _parse, lambda a: 1 / 0, lambda a, r: "")
