import io

import numpy as np
import pytest

from toymodels import DataError, load_csv, parse_csv, train, TrainConfig


def _csv(text):
    return io.StringIO(text)


def test_parse_reads_header_in_any_order_and_names():
    pts, labels, classes = parse_csv(_csv("label,y,x\ncat,2,1\ndog,4,3\ncat,0,0\n"))
    np.testing.assert_array_equal(pts, [[1, 2], [3, 4], [0, 0]])
    assert classes == ["cat", "dog"] and labels.tolist() == [0, 1, 0]


def test_parse_without_header_and_integer_labels_sorted_numerically():
    pts, labels, classes = parse_csv(_csv("0,0,10\n1,1,2\n"))
    assert classes == ["2", "10"] and labels.tolist() == [1, 0]


@pytest.mark.parametrize("text, message", [
    ("a,b,c\n1,2,0\n", "missing column"),
    ("x,y\n1,2\n", "missing column"),
    ("x,y,label\n1,abc,0\n2,2,1\n", r"row 2: y is not a number: 'abc'"),
    ("x,y,label\n1,nan,0\n2,2,1\n", "row 2: y is 'nan'"),
    ("x,y,label\n1,2,0\n2,inf,1\n", "row 3: y is 'inf'"),
    ("x,y,label\n1,2,0\n2,3,0\n", "one class only"),
    ("x,y,label\n1,2\n", "row 2 has 2 column"),
    ("", "empty"),
    ("x,y,label\n", "no data rows"),
    ("x,y,label\n0,0,0\n1e308,0,1\n1,1,0\n", r"row 3: x is '1e308', beyond \+-1e\+18, the largest "
                                              r"coordinate taken \(float32 must hold its square\)"),
    ("x,y,label\n0,-2e18,0\n1,1,1\n", r"row 2: y is '-2e18', beyond \+-1e\+18"),
    ("x,y,label\n0,0,1\n1,1,2\n2,2,2.5\n", r"row 4: the label '2.5' is a number but not a whole "
                                          r"one: classes are whole numbers \(1 and 1.0 are one class\)"),
    ("x,y,label\n0,0,1\n1,1,nan\n", r"row 3: the label 'nan' is a number but not a whole one"),
])
def test_bad_csv_gets_one_line_error(text, message):
    with pytest.raises(DataError, match=message) as e:
        parse_csv(_csv(text))
    assert "\n" not in str(e.value)


def test_row_cap():
    text = "x,y,label\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(11))
    with pytest.raises(DataError, match="more than 10 rows, the limit set by --max-rows") as e:
        parse_csv(_csv(text), max_rows=10)
    assert "\n" not in str(e.value)
    assert parse_csv(_csv(text), max_rows=11)[0].shape == (11, 2)


class _Endless(io.TextIOBase):
    """A CSV that never ends; counts the lines read from it."""

    def __init__(self):
        self.lines = 0

    def readable(self):
        return True

    def readline(self, size=-1):
        self.lines += 1
        return "x,y,label\n" if self.lines == 1 else f"{self.lines},{self.lines % 7},{self.lines % 2}\n"


def test_reader_streams_and_stops_at_the_limit():
    endless = _Endless()
    with pytest.raises(DataError, match="--max-rows"):
        parse_csv(endless, max_rows=1000)
    assert endless.lines <= 1002  # read up to the first row over the limit, no further


def test_max_rows_has_a_ceiling_that_fits_in_memory():
    from toymodels.csvdata import MAX_ROWS_LIMIT

    assert MAX_ROWS_LIMIT == 1_000_000
    with pytest.raises(DataError, match="--max-rows must be from 1 to 1000000"):
        parse_csv(_csv("x,y,label\n0,0,a\n1,1,b\n"), max_rows=20_000_000)


@pytest.mark.parametrize("max_rows", ["20000000", "0", "-5", "1e9", "many"])
def test_cli_refuses_max_rows_beyond_the_ceiling(max_rows, tmp_path, capsys):
    from categories.cli import main

    path = tmp_path / "d.csv"
    path.write_text("x,y,label\n0,0,a\n1,1,b\n")
    assert main(["report", "--csv", str(path), "--max-rows", max_rows, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --max-rows must be a whole number from 1 to 1000000, got {max_rows!r}"


def test_bytes_uploads_stream_and_bad_bytes_are_one_line():
    upload = io.BytesIO(b"x,y,label\n0,0,a\n1,1,b\n")
    pts, labels, classes = parse_csv(upload)
    assert classes == ["a", "b"] and not upload.closed  # the caller's stream stays open
    for data, message in [(b"x,y,label\n0,0,\xff\xfe\n", "not UTF-8"), (b"x,y,label\n0,0\x00,a\n", "y is not a number"),
                          (b"x,y,label\n" + b"1" * 200_000 + b",0,a\n", "not a readable CSV")]:
        with pytest.raises(DataError, match=message) as e:
            parse_csv(io.BytesIO(data))
        assert "\n" not in str(e.value)


def test_a_folder_is_not_a_csv(tmp_path):
    with pytest.raises(DataError, match="is a folder, not a CSV file"):
        parse_csv(tmp_path)


def test_load_csv_rescales_into_plane_and_trains(tmp_path):
    rng = np.linspace(0, 1, 40)
    rows = [f"{100 + 50 * a},{-20 + 10 * a},{int(a > 0.5)}" for a in rng]
    path = tmp_path / "d.csv"
    path.write_text("x,y,label\n" + "\n".join(rows) + "\n")
    task = load_csv(str(path), name="d.csv")
    x, y = task.points
    assert np.abs(x).max() <= 0.9 + 1e-6 and task.num_classes == 2
    t = train(task, TrainConfig(steps=300, width=16, depth=2))
    assert t.accuracy == 1.0


def test_missing_file():
    with pytest.raises(DataError, match="not found"):
        load_csv("/nonexistent/file.csv")


def test_numeric_labels_are_compared_as_numbers():
    """``1``, ``1.0`` and ``1e0`` are one class, named by its whole value; names stay as
    written and come after the numbers."""
    pts, labels, classes = parse_csv(_csv("x,y,label\n0,0,1\n1,1,1.0\n2,2,2\n3,3,1e0\n4,4,-0.0\n"
                                          "5,5,cat\n6,6,02\n"))
    assert classes == ["0", "1", "2", "cat"]
    assert labels.tolist() == [1, 1, 2, 1, 0, 3, 2]


@pytest.mark.parametrize("kind", ["path", "bytes", "text"])
def test_a_byte_order_mark_before_the_header_is_skipped(kind, tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM; the header is read as written (quoted too)."""
    data = "\ufeff\"x\",y,label\n0,0,a\n1,1,b\n".encode("utf-8")
    path = tmp_path / "excel.csv"
    path.write_bytes(data)
    source = {"path": str(path), "bytes": io.BytesIO(data),
              "text": io.StringIO("\ufeffx,y,label\n0,0,a\n1,1,b\n")}[kind]
    pts, labels, classes = parse_csv(source)
    np.testing.assert_array_equal(pts, [[0, 0], [1, 1]])
    assert classes == ["a", "b"]


def test_coordinates_up_to_the_limit_rescale_and_stay_in_their_own_coordinates():
    """Points as large as the limit rescale into the plane, finite; kept in their own
    coordinates (a user's model) they are float32 and finite; one beyond is refused either way."""
    text = "x,y,label\n1e18,-1e18,0\n-1e18,1e18,1\n0,0,0\n"
    x, _ = load_csv(_csv(text)).points
    np.testing.assert_allclose(x, [[0.9, -0.9], [-0.9, 0.9], [0, 0]], atol=1e-6)
    own, _ = load_csv(_csv(text), rescale=False).points
    assert own.dtype == np.float32 and np.isfinite(own).all() and np.isfinite(own.astype(np.float32) ** 2).all()
    for rescale in (True, False):
        with pytest.raises(DataError, match=r"row 3: x is '-1.5e18', beyond \+-1e\+18"):
            load_csv(_csv("x,y,label\n0,0,0\n-1.5e18,0,1\n"), rescale=rescale)


def test_diverged_training_is_one_line_and_exit_2_on_the_command_line(tmp_path, capsys, monkeypatch):
    """The CLI has no learning-rate option, so the test gives CSV tasks a configuration that
    diverges; the training that diverges is real, and so is the command line's handling."""
    from categories.cli import main
    from toymodels import presets

    # a CSV task is named after its file: only it trains with the diverging configuration
    monkeypatch.setitem(presets.OVERRIDES, "csv:d.csv",
                        {"steps": 20, "learning_rate": 1e30, "width": 8, "depth": 1})
    path = tmp_path / "d.csv"
    path.write_text("x,y,label\n0,0,a\n1,1,b\n0,1,a\n1,0,b\n")
    assert main(["report", "--csv", str(path), "--quiet", "--points", "50"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: training diverged (loss nan) at step ")
    assert ("the likely cause is the scale of the data (largest coordinate " in err
            and "or the learning rate (now 1e+30): rescale the data, lower the learning rate" in err)
