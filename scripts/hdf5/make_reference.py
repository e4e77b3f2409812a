"""Makes small real HDF5 files (written by libhdf5 through h5py) and the values a reader must
find in them: testdata/hdf5/*.h5 and testdata/hdf5/expected.json.

Reference artifacts made by an external tool, committed with this script (like
testdata/adversarial/). Re-run with the pinned versions to regenerate:

    python3 -m venv /work/venv-hdf5
    /work/venv-hdf5/bin/pip install h5py==3.16.0 numpy==2.4.6
    /work/venv-hdf5/bin/python scripts/hdf5/make_reference.py testdata/hdf5

Nothing here reads the files back except through h5py, to record what they contain.
"""

import json
import os
import sys

import h5py
import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else "testdata/hdf5"


def values(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 0.5).astype(dtype)


def compact(group, name, data):
    """A dataset with the compact layout (data stored in the object header)."""
    space = h5py.h5s.create_simple(data.shape)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    dcpl.set_obj_track_times(False)  # no timestamps: regenerated files are byte-identical
    tid = h5py.h5t.py_create(data.dtype)
    dsid = h5py.h5d.create(group.id, name.encode(), tid, space, dcpl=dcpl)
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(data))


def keras_layer(f, layer, kernel, bias, **kw):
    g = f.require_group(f"model_weights/{layer}/{layer}")
    f[f"model_weights/{layer}"].attrs["weight_names"] = [
        f"{layer}/kernel:0".encode(),
        f"{layer}/bias:0".encode(),
    ]
    g.create_dataset("kernel:0", data=kernel, **kw)
    g.create_dataset("bias:0", data=bias)


def write_keras(path, libver, extras):
    with h5py.File(path, "w", libver=libver, track_order=(libver != "earliest")) as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["model_config"] = json.dumps(
            {"class_name": "Sequential", "config": {"name": "ref", "layers": []}}
        )
        layers = ["dense", "dense_1", "conv2d", "dense_2"]
        f.create_group("model_weights").attrs["layer_names"] = [l.encode() for l in layers]
        # contiguous f32
        keras_layer(f, "dense", values((8, 4), "<f4", 1), values((4,), "<f4", 2))
        # chunked + shuffle + gzip f32
        keras_layer(
            f,
            "dense_1",
            values((64, 16), "<f4", 3),
            values((16,), "<f4", 4),
            chunks=(16, 8),
            shuffle=True,
            compression="gzip",
            compression_opts=4,
        )
        # chunked + gzip, f16, partial edge chunks
        keras_layer(
            f,
            "conv2d",
            values((3, 3, 2, 5), "<f2", 5),
            values((5,), "<f2", 6),
            chunks=(2, 2, 2, 2),
            compression="gzip",
        )
        # big-endian f64
        keras_layer(f, "dense_2", values((5, 3), ">f8", 7), values((3,), ">f8", 8))
        g = f.create_group("extra")
        compact(g, "compact_f32", values((3, 4), "<f4", 9))
        g.create_dataset("int32", data=np.arange(-6, 6, dtype="<i4").reshape(3, 4))
        g.create_dataset("uint8", data=np.arange(0, 200, 7, dtype="u1"))
        g.create_dataset("be_int16", data=np.arange(-5, 5, dtype=">i2"))
        g.create_dataset("scalar", data=np.float64(3.25))
        g.create_dataset("empty", data=np.zeros((0, 4), dtype="<f4"))
        g.create_dataset("unwritten", shape=(4,), dtype="<f4")  # never allocated: fill value 0
        g.create_dataset("filled", shape=(2, 3), dtype="<i2", fillvalue=-7)  # never written
        g.create_dataset("flags", data=np.array([True, False, True]))  # h5py bool: an enum
        # a second hard link to a dataset, a soft link and an external link
        f["alias_int32"] = g["int32"]
        if not extras:
            return
        # > 64 chunks: a v1 B-tree chunk index with an internal level
        g.create_dataset("many_chunks", data=values((18, 18), "<f4", 10), chunks=(2, 2),
                         compression="gzip")
        # 100 hard links to one dataset: several symbol-table nodes
        links = f.create_group("links")
        for i in range(40):
            links[f"l{i:03d}"] = g["uint8"]

        f["soft"] = h5py.SoftLink("/extra/int32")
        f["external"] = h5py.ExternalLink("other.h5", "/weights")


def write_latest(path, libver):
    with h5py.File(path, "w", libver=libver, track_order=True) as f:
        # > 8 links: dense link storage (fractal heap + v2 B-tree name index)
        many = f.create_group("many")
        for i in range(20):
            many.create_dataset(f"w{i:02d}", data=values((2, 3), "<f4", 100 + i))
        # > 8 attributes: dense attribute storage
        for i in range(12):
            f.attrs[f"attr_{i:02d}"] = f"value {i}"
        f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {}})
        # larger than the heap's managed-object limit: a "huge" fractal heap object
        f.attrs["large_config"] = json.dumps({"layers": ["x" * 60] * 300})
        d = f.create_dataset(
            "chunked",
            data=values((40, 10), "<f4", 200),
            chunks=(16, 4),
            shuffle=True,
            compression="gzip",
        )
        for i in range(10):
            d.attrs[f"a{i}"] = i
        f.create_dataset("single_chunk", data=values((6, 6), "<f8", 201), chunks=(6, 6),
                         compression="gzip")
        f.create_dataset("contiguous_be", data=values((7,), ">f4", 202))
        # one unlimited dimension: extensible array chunk index (with super blocks; filtered;
        # unlimited dimension not first)
        f.create_dataset("extensible_1d", data=values((260,), "<f4", 205), chunks=(1,),
                         maxshape=(None,))
        f.create_dataset("extensible_gzip", data=values((6, 5), "<f4", 206), chunks=(2, 2),
                         maxshape=(None, 5), compression="gzip")
        f.create_dataset("extensible_mid", data=np.arange(30, dtype="<i4").reshape(3, 10),
                         chunks=(2, 3), maxshape=(3, None))
        # fixed array over a maximum shape larger than the shape; paged fixed arrays
        f.create_dataset("fixed_max", data=values((10, 10), "<f4", 207), chunks=(4, 4),
                         maxshape=(20, 10))
        # pages of extensible array data blocks (> 1024 elements per block)
        # (elements 110000-110001 are in the second page of a 2048-element data block)
        d = f.create_dataset("paged_extensible", shape=(110002,), dtype="u1", chunks=(1,),
                             maxshape=(None,))
        d[110000] = 4
        d[110001] = 3
        # only the second page is written: its bit alone is set in the page bitmap
        d = f.create_dataset("paged_sparse", shape=(1100,), dtype="u1", chunks=(1,))
        d[1050] = 5
        d[1099] = 2
        # two unlimited dimensions: a version 2 B-tree chunk index (filtered and not)
        f.create_dataset("unlimited_gzip", data=values((9, 7), "<f4", 204), chunks=(4, 4),
                         maxshape=(None, None), compression="gzip", shuffle=True)
        f.create_dataset("unlimited", data=np.arange(30, dtype="<i2").reshape(5, 6),
                         chunks=(2, 4), maxshape=(None, None))
        compact(f, "compact_f16", values((2, 5), "<f2", 203))
        # dense storage with an indirect fractal heap block and a deeper v2 B-tree
        links = f.create_group("many_links")
        for i in range(150):
            links[f"link_{i:03d}"] = f["contiguous_be"]
        a = f.create_group("many_attrs")
        for i in range(120):
            a.attrs[f"attribute_number_{i:03d}"] = np.int32(i)
        # a track_order group with compact links
        g = f.create_group("small", track_order=True)
        g.create_dataset("k", data=np.arange(6, dtype="<i8"))


def write_unsupported(path):
    """Datasets this reader must refuse by name, never skip silently (and two it reads:
    a compound and a fixed-length string dataset)."""
    with h5py.File(path, "w", libver="latest") as f:
        f.create_dataset("lzf", data=np.arange(64, dtype="<f4"), chunks=(16,), compression="lzf")
        f.create_dataset("scaleoffset", data=np.arange(64, dtype="<i4"), chunks=(16,),
                         scaleoffset=0)
        f.create_dataset("compound", data=np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")]))
        f.create_dataset("strings", data=np.array([b"ab", b"cd"]))
        f.create_dataset("ok", data=np.arange(3, dtype="<f8"))
    return {
        "/lzf": "lzf",
        "/scaleoffset": "scaleoffset",
    }


def describe(path):
    out = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            a = obj[()]
            a = np.asarray(a)
            flat = a.reshape(-1).astype("f8")
            out.append(
                {
                    "path": "/" + name,
                    "dtype": a.dtype.newbyteorder("<").str if a.dtype.itemsize > 1 else a.dtype.str,
                    "shape": list(a.shape),
                    "sum": float(flat.sum()),
                    "first": [float(x) for x in flat[:4]],
                    "last": [float(x) for x in flat[-2:]],
                    "stored_dtype": obj.dtype.str,
                    "layout": {0: "compact", 1: "contiguous", 2: "chunked"}.get(
                        obj.id.get_create_plist().get_layout(), "?"
                    ),
                    "filters": [str(k) for k in obj._filters.keys()],
                }
            )

    with h5py.File(path, "r") as f:
        f.visititems(visit)
        attrs = {}
        for k, v in f.attrs.items():
            v = v.decode() if isinstance(v, bytes) else v
            # string attributes: length and the first characters; others: null
            attrs[k] = {"len": len(v), "head": v[:40]} if isinstance(v, str) else None
    out.sort(key=lambda d: d["path"])
    return {"datasets": out, "root_attributes": attrs}


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {
        "keras_earliest.h5": lambda p: write_keras(p, "earliest", True),
        "keras_v108.h5": lambda p: write_keras(p, "v108", False),
        "latest.h5": lambda p: write_latest(p, "latest"),
    }
    expected = {
        "generator": {"h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version,
                      "numpy": np.__version__},
        "files": {},
    }
    for name, make in files.items():
        p = os.path.join(OUT, name)
        if os.path.exists(p):
            os.remove(p)
        make(p)
        expected["files"][name] = describe(p)
    p = os.path.join(OUT, "unsupported.h5")
    if os.path.exists(p):
        os.remove(p)
    expected["unsupported"] = {"unsupported.h5": write_unsupported(p)}
    # one dataset per line keeps the file small and diffable
    text = json.dumps(expected, sort_keys=True, separators=(",", ":"))
    text = text.replace('},{"dtype"', '},\n{"dtype"')
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        fh.write(text + "\n")


main()
