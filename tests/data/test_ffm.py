"""read_libffm on tiny files: exact field columns, bags for multi-valued fields, values, malformed lines."""
from __future__ import annotations

import numpy as np
import pytest

from recsys_hash.data import read_libffm
from recsys_hash.errors import DataFormatError

ROWS = "1 0:10:0.5 2:30:1\n0 2:31:0.25 1:20:2 2:32:0.25\n-1\n"


def test_single_valued_fields_exact(tmp_path):
    path = tmp_path / "a.ffm"
    path.write_text("1 0:10:0.5 2:30:1\n0 2:31:0.25 1:20:2\n-1\n")
    sf = read_libffm(path, with_values=True)
    f = sf.frame
    assert list(f.categorical) == ["f0", "f1", "f2"] and sf.history == {}
    assert f.categorical["f0"].tolist() == [10, -1, -1]
    assert f.categorical["f1"].tolist() == [-1, 20, -1]
    assert f.categorical["f2"].tolist() == [30, 31, -1]
    assert f.labels.tolist() == [1.0, 0.0, 0.0]  # -1 -> 0
    assert f.dense_names == ["value_f0", "value_f1", "value_f2"]
    np.testing.assert_array_equal(f.dense, [[0.5, 0, 1], [0, 2, 0.25], [0, 0, 0]])
    wide = read_libffm(path, n_fields=5)
    assert list(wide.frame.categorical) == ["f0", "f1", "f2", "f3", "f4"] and wide.frame.dense.shape == (3, 0)
    assert wide.frame.categorical["f4"].tolist() == [-1, -1, -1]


def test_multi_valued_field_as_bag(tmp_path):
    path = tmp_path / "a.ffm"
    path.write_text(ROWS)
    sf = read_libffm(path, multi_valued=[2], with_values=True)
    assert list(sf.frame.categorical) == ["f0", "f1"] and sf.frame.dense_names == ["value_f0", "value_f1"]
    offsets, values = sf.history["f2"]
    assert offsets.tolist() == [0, 1, 3, 3] and values.tolist() == [30, 31, 32]
    np.testing.assert_array_equal(sf.frame.dense, [[0.5, 0], [0, 2], [0, 0]])
    with pytest.raises(DataFormatError, match=r"^a.ffm line 2: field 2 appears more than once; expected at most one "
                                              r"feature per field in a row \(pass multi_valued=\[2\] to read it as a bag\)"):
        read_libffm(path)
    with pytest.raises(ValueError, match=r"multi_valued fields \[-1, 2\] must lie in \[0, 3\)"):
        read_libffm(path, multi_valued=[2, -1])
    with pytest.raises(ValueError, match=r"multi_valued fields \[7\] must lie in \[0, 4\)"):
        read_libffm(path, multi_valued=[7], n_fields=4)
    wider = read_libffm(path, multi_valued=[2, 4])  # bag field 4 absent from the file: an empty bag column
    assert list(wider.frame.categorical) == ["f0", "f1", "f3"] and wider.frame.categorical["f3"].tolist() == [-1] * 3
    assert wider.history["f4"][0].tolist() == [0, 0, 0, 0] and wider.history["f4"][1].size == 0


@pytest.mark.parametrize("line, pattern", [
    ("1 0:10", r"line 2: expected 'field:feature:value', got '0:10'"),
    ("1,0:10:1,1:2:1", r"line 2: expected a label in \{0, 1, -1\}, got '1,0:10:1,1:2:1' \(wrong delimiter\? the line "
                       r"contains commas; expected whitespace-separated fields\)"),
    ("1 0:10:1,1:2:1", r"line 2: expected 'field:feature:value', got '0:10:1,1:2:1' \(wrong delimiter\? the line "
                       r"contains commas; expected whitespace-separated fields\)"),
    ("1 0:abc:1", r"line 2: expected 'field:feature:value' with non-negative integer field and feature, got 'abc'"),
    ("1 x:1:1", r"line 2: expected 'field:feature:value' with non-negative integer field and feature, got 'x'"),
    ("1 0:1:nan", r"line 2: expected 'field:feature:value' with a finite numeric value, got 'nan'"),
    ("2 0:1:1", r"line 2: expected a label in \{0, 1, -1\}, got '2'"),
    ("1 9:1:1", r"line 2: field 9 out of range for n_fields=3, got '9:1:1'"),
])
def test_malformed_lines(tmp_path, line, pattern):
    path = tmp_path / "b.ffm"
    path.write_text("0 0:1:1\n" + line + "\n")
    with pytest.raises(DataFormatError, match=r"^b.ffm " + pattern):
        read_libffm(path, n_fields=3)
