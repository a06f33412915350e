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
