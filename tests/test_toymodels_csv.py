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
    with pytest.raises(DataError, match="11 rows, more than the limit of 10"):
        parse_csv(_csv(text), max_rows=10)


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
