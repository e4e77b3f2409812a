"""Makes the HDF5 files of PyTables and h5py data (not Keras models) that mlsec must read:
pickled node attributes (malicious and benign), compound tables, string datasets and
attributes, a plain data file. Writes them to testdata/hdf5/ with expected_data.json.

Reference artifacts made by the real tools, committed with this script. Re-run with the pinned
versions to regenerate:

    python3 -m venv /work/venvs/hdf5
    /work/venvs/hdf5/bin/pip install h5py==3.16.0 numpy==2.4.6 tables==3.11.1 pandas==2.3.3
    /work/venvs/hdf5/bin/python scripts/hdf5/make_pytables.py testdata/hdf5

PyTables stores an attribute value it cannot store natively as `pickle.dumps(value, 0)` in a
scalar fixed-length string attribute (tables/hdf5extension.pyx, `_g_setattr`), and unpickles
every scalar non-UTF-8 string attribute whose value ends with `.` (tables/attributeset.py,
`AttributeSet.__getattr__`), which `AttributeSet.__init__` calls for every attribute of a node:
opening a node's attributes (which opening a table does) runs the pickles.

Every malicious fixture is checked here, at generation time, to really run its payload under
PyTables: the payload is `os.system("touch <marker>")`, and the fixture is kept only when
opening the node's attributes with PyTables creates the marker file. Every benign fixture is
checked to open and read back with its loader. Nothing else runs these files.
"""

import json
import os
import pickle
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import tables

OUT = sys.argv[1] if len(sys.argv) > 1 else "testdata/hdf5"
MARKER_NAME = "mlsec-hdf5-marker"


class Payload:
    """Pickles as a call of os.system (posix.system) with a harmless command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def runs_marker(path, node, attrs):
    """Opens `node`'s attributes with PyTables in a fresh interpreter, in a scratch directory
    (the payload touches a relative marker there); returns whether the marker appeared."""
    with tempfile.TemporaryDirectory() as scratch:
        code = (
            "import sys, tables\n"
            "with tables.open_file(sys.argv[1]) as f:\n"
            "    a = f.get_node(sys.argv[2])._v_attrs\n"
            "    for name in sys.argv[3:]:\n"
            "        getattr(a, name)\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, os.path.abspath(path), node, *attrs],
            cwd=scratch,
            check=True,
            capture_output=True,
        )
        return os.path.exists(os.path.join(scratch, MARKER_NAME))


def touch():
    return Payload(f"touch {MARKER_NAME}")


class Row(tables.IsDescription):
    name = tables.StringCol(8, pos=0)
    count = tables.Int32Col(pos=1)
    score = tables.Float64Col(pos=2)
    pair = tables.Float32Col(shape=(2,), pos=3)
    flag = tables.BoolCol(pos=4)


def table(f, where, name):
    t = f.create_table(where, name, Row, "rows", expectedrows=4, chunkshape=(4,))
    r = t.row
    for i in range(4):
        r["name"] = f"row{i}".encode()
        r["count"] = i * 10 - 5
        r["score"] = i * 0.5 + 0.25
        r["pair"] = [i, -i]
        r["flag"] = i % 2 == 0
        r.append()
    t.flush()
    return t


def pytables_malicious(path):
    """A PyTables table whose attribute `evil` is a pickled os.system call."""
    with tables.open_file(path, "w", title="data") as f:
        g = f.create_group("/", "group")
        t = table(f, g, "table")
        t.attrs.units = "m"
        t.attrs.evil = touch()
    assert runs_marker(path, "/group/table", []), "payload did not run under PyTables"
    return {"node": "/group/table", "attribute": "evil", "callable": "posix.system"}


def runs_marker_on_read(path, node):
    """Reads the array `node` with PyTables in a fresh interpreter, in a scratch directory;
    returns whether the marker appeared."""
    with tempfile.TemporaryDirectory() as scratch:
        code = (
            "import sys, tables\n"
            "with tables.open_file(sys.argv[1]) as f:\n"
            "    f.get_node(sys.argv[2]).read()\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, os.path.abspath(path), node],
            cwd=scratch,
            check=True,
            capture_output=True,
        )
        return os.path.exists(os.path.join(scratch, MARKER_NAME))


def pytables_malicious_vlarray(path):
    """A PyTables VLArray of ObjectAtom (how pandas' fixed format keeps object columns): each
    row is `pickle.dumps(obj, HIGHEST_PROTOCOL)` in a variable-length uint8 sequence, unpickled
    when the array is read. Row 1 is a pickled os.system call."""
    with tables.open_file(path, "w") as f:
        a = f.create_vlarray("/", "objects", tables.ObjectAtom(), chunkshape=(4,))
        a.append({"benign": [1, 2]})
        a.append(touch())
        a.append("text")
    assert runs_marker_on_read(path, "/objects"), "payload did not run under PyTables"
    return {"node": "/objects", "row": 1, "callable": "posix.system"}


def pytables_benign(path):
    """PyTables attributes PyTables pickles (a dict, a list, a tuple) and native ones."""
    with tables.open_file(path, "w", title="benign") as f:
        g = f.create_group("/", "group")
        t = table(f, g, "table")
        t.attrs.config = {"alpha": 1, "names": ["a", "b"], "nested": {"x": 2.5}}
        t.attrs.history = [3, (1, 2)]
        t.attrs.pair = (1, "two")
        t.attrs.count = 7
        t.attrs.ratio = 0.5
        t.attrs.vector = np.arange(3, dtype="<f8")
        t.attrs.label = "a label."
        g._v_attrs.note = b"bytes ending in a dot."
        f.create_array("/", "array", np.arange(12, dtype="<i4").reshape(3, 4))
        objects = f.create_vlarray("/", "objects", tables.ObjectAtom(), chunkshape=(4,))
        objects.append({"a": [1, 2.5]})
        objects.append(("x", None))
    with tables.open_file(path) as f:
        assert f.get_node("/objects").read() == [{"a": [1, 2.5]}, ("x", None)]
        a = f.get_node("/group/table")._v_attrs
        assert a.config == {"alpha": 1, "names": ["a", "b"], "nested": {"x": 2.5}}
        assert a.history == [3, (1, 2)] and a.pair == (1, "two")
        assert f.get_node("/group")._v_attrs.note == b"bytes ending in a dot."
        rows = f.get_node("/group/table").read()
        assert list(rows["count"]) == [-5, 5, 15, 25]
    return {"tables": {"/group/table": table_expectation()}, "pickled": ["config", "history", "pair"]}


def table_expectation():
    return {
        "count": {"dtype": "<i4", "shape": [4], "sum": 40.0},
        "score": {"dtype": "<f8", "shape": [4], "sum": 4.0},
        "pair": {"dtype": "<f4", "shape": [4, 2], "sum": 0.0},
        "flag": {"dtype": "|b1", "shape": [4], "sum": 2.0},
        "strings": ["name"],
    }


def h5py_malicious(path):
    """h5py, libver="latest": a dataset with 12 attributes (dense attribute storage). `payload`
    (a protocol-0 pickle in a scalar fixed-length ASCII string, as PyTables writes it) and
    `vlen_payload` (the same in a variable-length ASCII string: the global heap) both run
    under PyTables; `blob` is a protocol-2 pickle in an opaque attribute, which no loader
    known to us unpickles, reported all the same."""
    evil = pickle.dumps(touch(), 0)
    with h5py.File(path, "w", libver="latest") as f:
        d = f.create_dataset("data", data=np.arange(6, dtype="<f4"))
        for i in range(10):
            d.attrs[f"a{i:02d}"] = np.int32(i)
        d.attrs["payload"] = np.bytes_(evil)
        d.attrs.create("vlen_payload", evil, dtype=h5py.string_dtype("ascii"))
        d.attrs["blob"] = np.void(pickle.dumps(touch(), 2))
    with h5py.File(path) as f:
        assert f["data"].id.get_create_plist() is not None
    for attr in ["payload", "vlen_payload"]:
        assert runs_marker(path, "/data", [attr]), f"{attr} did not run under PyTables"
    return {
        "node": "/data",
        "attributes": ["blob", "payload", "vlen_payload"],
        "callable": "posix.system",
    }


def h5py_strings(path):
    """Strings and records as h5py writes them: variable-length and fixed-length string
    datasets and attributes, a structured array (compound) with a string field and a nested
    record, complex numbers (a compound of two floats)."""
    rec = np.dtype([("id", "<i8"), ("tag", "S4"), ("pos", [("x", "<f4"), ("y", "<f4")]),
                    ("w", ">f8", (2,))])
    data = np.zeros(3, dtype=rec)
    data["id"] = [1, 2, 3]
    data["tag"] = [b"a", b"bb", b"ccc"]
    data["pos"]["x"] = [0.5, 1.5, 2.5]
    data["pos"]["y"] = [-1.0, -2.0, -3.0]
    data["w"] = [[1, 2], [3, 4], [5, 6]]
    with h5py.File(path, "w") as f:
        f.create_dataset("vlen_utf8", data=["alpha", "βeta", ""], dtype=h5py.string_dtype())
        f.create_dataset("vlen_ascii", data=[b"x", b"yy"], dtype=h5py.string_dtype("ascii"))
        f.create_dataset("vlen_chunked", data=["p", "q", "r", "s"], dtype=h5py.string_dtype(),
                         chunks=(2,), compression="gzip")
        f.create_dataset("fixed", data=np.array([b"ab", b"cd"]))
        f.create_dataset("records", data=data)
        f.create_dataset("complex", data=np.array([1 + 2j, 3 - 4j], dtype="<c16"))
        f.create_dataset("numbers", data=np.linspace(0, 1, 5))
        f.attrs["title"] = "strings"
        f.attrs["names"] = ["one", "two", "three"]
        f.attrs["raw"] = np.bytes_(b"fixed bytes")
        f.attrs["fixed_list"] = np.array([b"ab", b"cd"])
        f["numbers"].attrs["unit"] = "s"
    with h5py.File(path) as f:
        assert [s.decode() for s in f["vlen_utf8"][()]] == ["alpha", "βeta", ""]
        assert list(f["records"]["id"]) == [1, 2, 3]
    return {
        "strings": ["/fixed", "/vlen_ascii", "/vlen_chunked", "/vlen_utf8"],
        "tensors": {
            "records.id": {"dtype": "<i8", "shape": [3], "sum": 6.0},
            "records.pos.x": {"dtype": "<f4", "shape": [3], "sum": 4.5},
            "records.pos.y": {"dtype": "<f4", "shape": [3], "sum": -6.0},
            "records.w": {"dtype": "<f8", "shape": [3, 2], "sum": 21.0},
            "complex.r": {"dtype": "<f8", "shape": [2], "sum": 4.0},
            "complex.i": {"dtype": "<f8", "shape": [2], "sum": -2.0},
            "numbers": {"dtype": "<f8", "shape": [5], "sum": 2.5},
        },
        "skipped_fields": ["records.tag"],
        "root_attributes": {"title": ["strings"], "names": ["one", "two", "three"],
                            "raw": ["fixed bytes"], "fixed_list": ["ab", "cd"]},
    }


def plain_data(path):
    """A plain data file: measurements with missing values (NaN) and large magnitudes, which
    are data, not weights."""
    with h5py.File(path, "w") as f:
        v = np.array([[1.0, np.nan, 3.0e6], [np.inf, -2.0, 0.0]])
        f.create_dataset("measurements", data=v)
        f.create_dataset("counts", data=np.arange(10, dtype="<u2"))
    with h5py.File(path) as f:
        assert f["counts"][()].sum() == 45
    return {}


def pandas_store(path):
    """pandas' HDFStore (through PyTables): a frame in table format, one in fixed format.
    pandas keeps lists in node attributes, which PyTables pickles."""
    try:
        import pandas as pd
    except ImportError:
        return None
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, np.nan], "c": ["x", "y", "z"]})
    with pd.HDFStore(path, mode="w") as store:
        # compressed: the one chunk of 2621 rows is mostly empty
        store.append("table", df, index=False, complevel=9, complib="zlib")
        # numeric columns only: fixed format keeps an object (string) column as a VLArray of
        # pickles with a large default chunk
        store.put("fixed", df[["a", "b"]], format="fixed")
    back = pd.read_hdf(path, "table")
    assert list(back["a"]) == [1, 2, 3]
    return {"pandas": pd.__version__}


def main():
    os.makedirs(OUT, exist_ok=True)
    makers = {
        "pytables_malicious_attr.h5": pytables_malicious,
        "pytables_benign_attrs.h5": pytables_benign,
        "pytables_malicious_vlarray.h5": pytables_malicious_vlarray,
        "h5py_malicious_attrs.h5": h5py_malicious,
        "h5py_strings.h5": h5py_strings,
        "plain_data.h5": plain_data,
        "pandas_store.h5": pandas_store,
    }
    expected = {
        "generator": {"h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version,
                      "numpy": np.__version__, "tables": tables.__version__},
        "files": {},
    }
    for name, make in makers.items():
        p = os.path.join(OUT, name)
        if os.path.exists(p):
            os.remove(p)
        got = make(p)
        if got is None:
            continue
        expected["files"][name] = got
    with open(os.path.join(OUT, "expected_data.json"), "w") as fh:
        fh.write(json.dumps(expected, sort_keys=True, indent=1) + "\n")


main()
