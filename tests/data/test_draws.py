"""Draw histories: every accepted format, and one clear line per bad file."""

import json

import pytest

from seedsift.data.draws import Split, load_history
from seedsift.errors import InputError


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_json_array(tmp_path):
    assert load_history(write(tmp_path, "d.json", "[1, 2, 999]"), 1000) == [1, 2, 999]


def test_objects_with_sessions_filter(tmp_path):
    rows = [
        {"date": "2024-01-01", "session": "midday", "draw": 5},
        {"date": "2024-01-01", "session": "evening", "draw": 6},
        {"date": "2024-01-02", "session": "midday", "draw": 7},
    ]
    path = write(tmp_path, "d.json", json.dumps(rows))
    assert load_history(path, 1000) == [5, 6, 7]
    assert load_history(path, 1000, ["midday"]) == [5, 7]


def test_wrapped_draws(tmp_path):
    assert load_history(write(tmp_path, "d.json", '{"draws": [3, 4]}'), 10) == [3, 4]


def test_csv_with_draw_column(tmp_path):
    path = write(tmp_path, "d.csv", "date,session,draw\n2024-01-01,midday,12\n2024-01-02,midday,999\n")
    assert load_history(path, 1000) == [12, 999]


def test_one_integer_per_line_with_bom(tmp_path):
    path = write(tmp_path, "d.txt", "\ufeff7\n8\n\n9\n".encode("utf-8"))
    assert load_history(path, 10) == [7, 8, 9]


def test_raw_32_bit_values(tmp_path):
    assert load_history(write(tmp_path, "d.json", "[4294967295, 0]"), 1 << 32) == [4294967295, 0]


BAD = [
    ("empty.json", "", "empty"),
    ("blank.txt", "   \n\n", "empty"),
    ("broken.json", "[1, 2,", "invalid JSON"),
    ("string.json", '[1, "2", 3]', "index 1"),
    ("float.json", "[1, 2.5]", "index 1"),
    ("integral_float.json", "[1, 2.0]", "float"),
    ("bool.json", "[true, 1]", "boolean"),
    ("nan.json", "[1, NaN]", "NaN"),
    ("negative.json", "[1, -3]", "outside [0, 1000)"),
    ("too_big.json", "[1, 1000]", "outside [0, 1000)"),
    ("bad_line.txt", "1\n2\nabc\n", "line 3"),
    ("bad_csv.csv", "date,draw\n2024-01-01,5\n2024-01-02,x\n", "line 3 column 'draw'"),
    ("no_draw_column.csv", "date,value\n2024-01-01,5\n", "no 'draw' column"),
    ("missing_field.json", '[{"date": "2024-01-01", "session": "midday"}]', 'no "draw" field'),
    ("newest_first.json",
     '[{"date": "2024-01-02", "draw": 1}, {"date": "2024-01-01", "draw": 2}]', "oldest first"),
    ("object.json", '{"numbers": [1]}', 'no "draws" key'),
    ("nan_csv.csv", "draw\n5\nnan\n", "line 3"),
    ("not_utf8.txt", b"1\n\xff\xfe\n", "UTF-8"),
]


@pytest.mark.parametrize("name,content,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_draw_files_give_one_clear_line(tmp_path, name, content, needle):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError) as exc:
        load_history(path, 1000)
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    assert needle in message


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_history(tmp_path / "nope.json", 1000)


def test_split_parts():
    s = Split.of(100, 0.2, 10)
    assert (s.n_train, s.n_holdout, s.n_test) == (72, 18, 10)
    train, holdout, test = s.parts(list(range(100)))
    assert train == list(range(72)) and holdout == list(range(72, 90)) and test == list(range(90, 100))


def test_a_synthetic_history_can_plant_any_runtime_call():
    from seedsift.data import synthetic
    from seedsift.prng import runtimes

    for name in ("php.mt_rand", "python.random.randrange", "java.util.Random.nextInt"):
        draws, truth = synthetic.generate(name, 123456789, 2, 1, 30, 600, 0.0, 1, low=5)
        assert draws == runtimes.hypothesis_draws(name, 123456789, range(30), 2, 1, 600, low=5)
        assert truth["prng"] == name and truth["low"] == 5 and all(5 <= d < 605 for d in draws)
