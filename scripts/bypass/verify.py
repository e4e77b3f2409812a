"""Checks that every fixture of testdata/bypass does what MANIFEST.tsv says under the REAL loader.

Each fixture carries `os.system('echo MLSEC_MARKER')`. For every (fixture, loader, runs) row
this loads the fixture in a fresh, isolated Python subprocess with that loader and checks that
MLSEC_MARKER is printed exactly when `runs` is true. Rows of the zip-reader fixtures have a
fourth column saying which member the loader reads (only that member carries the payload), which
is printed with the result. Loaders whose package is not importable
are reported as skipped. The result, with the versions used, is written to VERIFIED.txt beside
this script.

    python scripts/bypass/verify.py [--python /path/to/venv/bin/python ...]

Several --python interpreters can be given (e.g. one with numpy+joblib, one with torch); each
loader runs under the first interpreter that can import it.
"""

import argparse
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "testdata" / "bypass"

LOADERS = {
    "pickle.load": ("pickle", "import pickle,sys; pickle.load(open(sys.argv[1], 'rb'))"),
    "pickle.loads": ("pickle", "import pickle,sys; pickle.loads(open(sys.argv[1], 'rb').read())"),
    "torch.load": ("torch", "import torch,sys; torch.load(sys.argv[1], weights_only=False)"),
    "numpy.load": (
        "numpy",
        "import numpy,sys\n"
        "r = numpy.load(sys.argv[1], allow_pickle=True)\n"
        "[r[k] for k in r.files] if hasattr(r, 'files') else None",
    ),
    "joblib.load": ("joblib", "import joblib,sys; joblib.load(sys.argv[1])"),
}


def version(python, module):
    code = f"import {module}; print(getattr({module}, '__version__', 'stdlib'))"
    r = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", action="append", default=[])
    args = ap.parse_args()
    pythons = args.python or [sys.executable]
    lines, failures = [], 0
    for row in (FIXTURES / "MANIFEST.tsv").read_text().splitlines():
        name, loader, runs, *reads = row.split("\t")
        module, code = LOADERS[loader]
        python = next((p for p in pythons if version(p, module)), None)
        if python is None:
            lines.append(f"SKIP {name} {loader}: {module} not importable")
            continue
        r = subprocess.run(
            [python, "-I", "-c", code, str(FIXTURES / name)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=FIXTURES,
        )
        ran = "MLSEC_MARKER" in r.stdout
        ok = ran == (runs == "true")
        failures += not ok
        lines.append(
            f"{'OK  ' if ok else 'FAIL'} {name} {loader} {module}=={version(python, module)}: "
            f"payload {'ran' if ran else 'did not run'}"
            + (f" (reads {reads[0]})" if reads else "")
        )
    py = subprocess.run([pythons[0], "-c", "import sys; print(sys.version.split()[0])"],
                        capture_output=True, text=True).stdout.strip()
    out = "\n".join([f"python {py}", *lines, ""])
    (pathlib.Path(__file__).parent / "VERIFIED.txt").write_text(out)
    print(out)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
