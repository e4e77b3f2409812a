"""Makes small real joblib files (joblib.dump) and the arrays a reader must find in them:
testdata/joblib/*.joblib and testdata/joblib/expected.json, plus malicious dumps
(testdata/joblib/malicious/, listed in malicious.json) and the old formats of joblib < 0.10
(testdata/joblib/old/: the `.z` zfile and NDArrayWrapper/ZNDArrayWrapper companion files).

Reference artifacts made by an external tool, committed with this script (like
testdata/adversarial/). Re-run with the pinned versions to regenerate:

    python3 -m venv /work/venvs/joblib/venv
    /work/venvs/joblib/venv/bin/pip install joblib==1.6.0 numpy==2.4.6 lz4==4.4.5
    python3 -m venv /work/venvs/joblib/old        # joblib 0.9.4 runs on Python 3.11
    /work/venvs/joblib/old/bin/pip install joblib==0.9.4 numpy==2.4.6
    /work/venvs/joblib/venv/bin/python scripts/joblib/make_reference.py testdata/joblib \
        /work/venvs/joblib/old/bin/python

Every benign file is loaded back with joblib.load (joblib 1.6) and compared with what was
dumped. Every malicious file carries `os.system('touch "$MLSEC_MARKER"')` (pickled as
`posix.system`) and is loaded once, in a subprocess with MLSEC_MARKER set to a fresh path, to
check that the real joblib.load runs it before the file is kept. Paths use the reader's
notation: `key` / `.attr` for dict keys and object attributes, `[i]` for sequence items.
"""

import bz2
import collections
import json
import lzma
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import types

import joblib
import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else "testdata/joblib"
OLD_PYTHON = sys.argv[2] if len(sys.argv) > 2 else None
COMPRESSORS = ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"]
PAYLOAD = 'touch "$MLSEC_MARKER"'


class Payload:
    """Runs a harmless shell command when unpickled."""

    def __reduce__(self):
        return (os.system, (PAYLOAD,))


def runs_payload(path):
    """Whether joblib.load(path), in a fresh interpreter, runs the marker command."""
    with tempfile.TemporaryDirectory() as tmp:
        marker = os.path.join(tmp, "marker")
        env = dict(os.environ, MLSEC_MARKER=marker)
        subprocess.run(
            [sys.executable, "-W", "ignore", "-c", "import joblib, sys; joblib.load(sys.argv[1])", os.path.abspath(path)],
            env=env,
            cwd=tmp,
            check=False,
            capture_output=True,
        )
        return os.path.exists(marker)


def loads_back(path, obj):
    """joblib.load(path) gives the arrays and values that were dumped."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = joblib.load(path)
    assert set(obj) <= set(got), (path, set(obj) - set(got))
    for k, v in obj.items():
        if isinstance(v, np.ndarray):
            # joblib.load swaps big-endian arrays to the native byte order
            assert v.dtype.newbyteorder("=") == got[k].dtype.newbyteorder("="), (path, k)
            assert v.shape == got[k].shape, (path, k)
            if v.dtype != object:
                assert np.array_equal(v, got[k]), (path, k)


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
    # compressed: the whole stream (pickle and arrays) inside one compressed stream
    compressed = {f"model_{c}.joblib": c for c in COMPRESSORS}
    for name, method in compressed.items():
        path = os.path.join(OUT, name)
        joblib.dump(obj, path, compress=(method, 3))
        loads_back(path, {k: v for k, v in obj.items() if isinstance(v, np.ndarray)})
    files.update(compressed)
    # numpy arrays and a dict of settings only (no class outside numpy): must scan clean
    clean = {k: obj[k] for k in ["weights", "bias", "steps", "fortran"]}
    clean["config"] = {"lr": 0.1, "layers": [4, 3]}
    for c in COMPRESSORS:
        path = os.path.join(OUT, f"clean_{c}.joblib")
        joblib.dump(clean, path, compress=(c, 3))
        loads_back(path, clean)
    malicious = make_malicious()
    old = make_old()
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(
            {
                "generator": {"joblib": joblib.__version__, "numpy": np.__version__},
                "files": sorted(files),
                "arrays": describe(expected),
                "malicious": malicious,
                "old": old,
            },
            fh,
            indent=0,
            sort_keys=True,
        )
        fh.write("\n")


def make_malicious():
    """One malicious dump per compressor (and a bz2/xz/lz4-compressed plain pickle), each
    checked to run the marker under joblib.load. Returns [{file, format, callable}]."""
    out = []
    d = os.path.join(OUT, "malicious")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    evil = {"weights": values((4, 3), "<f4", 1), "payload": Payload()}
    for c in COMPRESSORS:
        name = f"evil_{c}.joblib"
        joblib.dump(evil, os.path.join(d, name), compress=(c, 3))
        out.append({"file": f"malicious/{name}", "format": f"joblib-{c}"})
    plain = {"pickle_bz2.pkl.bz2": bz2.open, "pickle_xz.pkl.xz": lzma.open}
    import lz4.frame

    plain["pickle_lz4.pkl.lz4"] = lz4.frame.open
    for name, opener in plain.items():
        with opener(os.path.join(d, name), "wb") as fh:
            pickle.dump({"lr": 0.1, "payload": Payload()}, fh, protocol=4)
        kind = name.split(".")[0].split("_")[1]
        out.append({"file": f"malicious/{name}", "format": f"pickle-{kind}"})
    for o in out:
        assert runs_payload(os.path.join(OUT, o["file"])), o
        o["callable"] = "posix.system"
    # the same plain pickles without the payload: benign
    for name, opener in plain.items():
        with opener(os.path.join(OUT, "plain_" + name.split("_")[1]), "wb") as fh:
            pickle.dump({"lr": 0.1, "layers": [3, 4]}, fh, protocol=4)
    return out


OLD_SCRIPT = r"""
import os, sys
import numpy as np
import joblib
assert joblib.__version__ == "0.9.4", joblib.__version__
out = sys.argv[1]
PAYLOAD = sys.argv[2]

class Payload:
    def __reduce__(self):
        return (os.system, (PAYLOAD,))

def values(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 0.5).astype(dtype)

obj = {
    "weights": values((4, 3), "<f4", 1),
    "bias": values((3,), ">f8", 2),
    "fortran": np.asfortranarray(values((3, 4), "<f4", 3)),
    "steps": np.arange(-4, 8, dtype="<i8"),
    "labels": np.array([1, "two", None], dtype=object),
    "lr": 0.1,
}
def dump(sub, value, **kw):
    os.makedirs(os.path.join(out, sub))
    return [os.path.basename(f) for f in joblib.dump(value, os.path.join(out, sub, "model.pkl"), **kw)]
print(dump("npy", obj))
print(dump("zfile_companions", obj, compress=3, cache_size=0))
print(dump("zfile", obj, compress=3))
print(dump("evil_zfile", {"weights": obj["weights"], "payload": Payload()}, compress=3))
print(dump("evil_npy", {"weights": obj["weights"], "bias": obj["bias"]}))
"""


def make_old():
    """joblib 0.9.4's formats (run with OLD_PYTHON), checked to load under joblib 1.6."""
    d = os.path.join(OUT, "old")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    subprocess.run([OLD_PYTHON, "-c", OLD_SCRIPT, d, PAYLOAD], check=True)
    # The malicious NDArrayWrapper file: its first companion replaced by an object array
    # whose pickle carries the payload (numpy.load(allow_pickle=True) unpickles it).
    evil = os.path.join(d, "evil_npy", "model.pkl_01.npy")
    np.save(evil, np.array([Payload()], dtype=object), allow_pickle=True)
    out = {"benign": [], "malicious": []}
    for sub in ["npy", "zfile_companions", "zfile"]:
        path = os.path.join(d, sub, "model.pkl")
        got = joblib.load(path)
        assert np.array_equal(got["weights"], values((4, 3), "<f4", 1)), sub
        assert got["labels"][1] == "two", sub
        out["benign"].append(
            {"file": f"old/{sub}/model.pkl", "companions": sorted(os.listdir(os.path.join(d, sub)))[1:]}
        )
    for sub, where in [("evil_zfile", "model.pkl"), ("evil_npy", "model.pkl_01.npy")]:
        assert runs_payload(os.path.join(d, sub, "model.pkl")), sub
        out["malicious"].append(
            {"file": f"old/{sub}/model.pkl", "located": f"old/{sub}/{where}", "callable": "posix.system"}
        )
    return out


main()
