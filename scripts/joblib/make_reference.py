"""Makes small real joblib files (joblib.dump) and the arrays a reader must find in them:
testdata/joblib/*.joblib and testdata/joblib/expected.json.

Reference artifacts made by an external tool, committed with this script (like
testdata/adversarial/). Re-run with the pinned versions to regenerate:

    python3 -m venv /work/venv-hdf5
    /work/venv-hdf5/bin/pip install joblib==1.6.0 numpy==2.4.6
    /work/venv-hdf5/bin/python scripts/joblib/make_reference.py testdata/joblib

The files are written, never loaded. Paths use the reader's notation: `key` / `.attr` for
dict keys and object attributes, `[i]` for sequence items.
"""

import collections
import json
import os
import sys
import types

import joblib
import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else "testdata/joblib"


def values(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 0.5).astype(dtype)


def model():
    arrays = {
        "weights": values((4, 3), "<f4", 1),
        "bias": values((3,), ">f8", 2),
        "steps": np.arange(-4, 8, dtype="<i8"),
        "fortran": np.asfortranarray(values((3, 4), "<f4", 3)),
        "half": values((5,), "<f2", 4),
        "mask": np.array([True, False, True, True]),
        "scalar": np.array(2.5, dtype="<f8"),
        "empty": np.zeros((0, 3), dtype="<f4"),
        "bytes": np.arange(0, 250, 10, dtype="u1"),
    }
    obj = dict(arrays)
    obj["labels"] = np.array([1, "two", None], dtype=object)
    obj["nested"] = [values((2, 2), "<f4", 5), {"inner": values((2,), "<f8", 6)}]
    obj["ns"] = types.SimpleNamespace(coef_=values((2, 3), "<f4", 7), name="linear")
    obj["ordered"] = collections.OrderedDict(a=np.arange(3, dtype="<i4"))
    expected = dict(arrays)
    expected["nested[0]"] = obj["nested"][0]
    expected["nested[1].inner"] = obj["nested"][1]["inner"]
    expected["ns.coef_"] = obj["ns"].coef_
    expected["ordered.a"] = obj["ordered"]["a"]
    return obj, expected


def describe(expected):
    out = []
    for path, a in expected.items():
        order = "F" if (a.flags.f_contiguous and not a.flags.c_contiguous) else "C"
        flat = np.asarray(a).ravel(order=order).astype("f8")
        out.append(
            {
                "path": path,
                "dtype": a.dtype.str,
                "shape": list(a.shape),
                "order": order,
                "sum": float(flat.sum()),
                # in storage order (the order of the bytes in the file)
                "first": [float(x) for x in flat[:4]],
                # in C (row-major) order
                "c_first": [float(x) for x in np.asarray(a).ravel(order="C")[:4].astype("f8")],
            }
        )
    out.append({"path": "labels", "dtype": "|O", "shape": [3], "order": "C"})
    out.sort(key=lambda d: d["path"])
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    obj, expected = model()
    files = {"model_p5.joblib": 5, "model_p2.joblib": 2}
    for name, protocol in files.items():
        joblib.dump(obj, os.path.join(OUT, name), protocol=protocol)
    # compressed: the whole stream (pickle and arrays) inside one zlib / gzip stream
    compressed = {"model_zlib.joblib": "zlib", "model_gzip.joblib": "gzip"}
    for name, method in compressed.items():
        joblib.dump(obj, os.path.join(OUT, name), compress=(method, 3))
    files.update(compressed)
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(
            {
                "generator": {"joblib": joblib.__version__, "numpy": np.__version__},
                "files": sorted(files),
                "arrays": describe(expected),
            },
            fh,
            indent=0,
            sort_keys=True,
        )
        fh.write("\n")


main()
