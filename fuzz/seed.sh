#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ from the committed fixtures (testdata/**) and, for pbtxt, the
# vendored Triton config corpus (testdata/triton-corpus). Corpora are not committed: run this before `cargo fuzz run`.
# Files are named by their SHA-1 so re-running only adds what is new. Needs python3 (to
# pull pickle and .npy members out of zip archives).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
corpus="$root/fuzz/corpus"
triton_corpus=${TRITON_CORPUS:-$root/testdata/triton-corpus}

add() { # add <target> <file>...
    local target=$1 f
    shift
    mkdir -p "$corpus/$target"
    for f in "$@"; do
        [ -f "$f" ] || continue
        cp "$f" "$corpus/$target/$(sha1sum "$f" | cut -c1-40)"
    done
}

fixtures() { # fixtures <find name patterns...>: fixture files matching any pattern
    local args=() p
    for p in "$@"; do args+=(-o -name "$p"); done
    find "$root/testdata" -type f \( "${args[@]:1}" \) -print0 | sort -z
}

# Members of zip fixtures (torch zip checkpoints, .npz) whose names end in one of the
# suffixes, written straight into the corpus.
members() { # members <target> <suffix>...
    local target=$1
    shift
    mkdir -p "$corpus/$target"
    python3 - "$root/testdata" "$corpus/$target" "$@" <<'PY'
import hashlib, pathlib, sys, zipfile
root, out, suffixes = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), tuple(sys.argv[3:])
for path in sorted(root.rglob("*")):
    if not path.is_file() or not zipfile.is_zipfile(path):
        continue
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.filename.endswith(suffixes) and info.file_size < 1 << 20:
                    data = z.read(info)
                    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
    except Exception:
        pass  # broken archives are fixtures too; they seed zip_torch, not this target
PY
}

# pickle: plain pickles, joblib files, legacy (non-zip) torch files, and data.pkl members.
mapfile -d '' files < <(fixtures '*.pkl' '*.pickle' '*.joblib' '*.pt' '*.pth' '*.bin')
for f in "${files[@]}"; do
    if ! head -c 4 "$f" | grep -q '^PK'; then add pickle "$f"; fi
done
members pickle .pkl

# zip_torch: every checkpoint-format fixture, whatever its container.
mapfile -d '' files < <(fixtures '*.pt' '*.pth' '*.pkl' '*.bin' '*.ckpt' '*.joblib' '*.npy' \
    '*.npz' '*.safetensors' '*.h5' '*.keras' '*.tar' '*.zip')
add zip_torch "${files[@]}"

mapfile -d '' files < <(fixtures '*.h5')
add hdf5 "${files[@]}"
# joblib: every joblib fixture (each compressor, plain compressed pickles, old formats).
mapfile -d '' files < <(find "$root/testdata/joblib" -type f ! -name '*.json' ! -name '*.md' -print0 | sort -z)
add joblib "${files[@]}"

mapfile -d '' files < <(fixtures '*.safetensors')
add safetensors "${files[@]}"

# gguf: the GGUF fixtures, and the real chat templates as raw text (the target lexes its input
# as a template too).
mapfile -d '' files < <(fixtures '*.gguf')
add gguf "${files[@]}"
add gguf "$root"/xtask/src/testdata/chat_templates/*.jinja

# tar: the legacy tar checkpoints.
mapfile -d '' files < <(find "$root/testdata" -type f -print0 | sort -z)
for f in "${files[@]}"; do
    if [ "$(dd if="$f" bs=1 skip=257 count=5 2>/dev/null)" = ustar ]; then add tar "$f"; fi
done

# traversal: every fixture a checkpoint scan reads, GGUF and the unscanned formats included.
mapfile -d '' files < <(fixtures '*.pt' '*.pth' '*.pkl' '*.bin' '*.ckpt' '*.joblib' '*.npy' \
    '*.npz' '*.safetensors' '*.h5' '*.keras' '*.tar' '*.zip' '*.gguf' '*.tflite' '*.skops' \
    '*.mlmodel' '*.pb' '*.json')
add traversal "${files[@]}"

mapfile -d '' files < <(fixtures '*.npy')
add npy "${files[@]}"
members npy .npy

mapfile -d '' files < <(fixtures '*.pbtxt')
add pbtxt "${files[@]}"
if [ -d "$triton_corpus" ]; then
    add pbtxt "$triton_corpus"/*.pbtxt
fi

mapfile -d '' files < <(fixtures '*.onnx')
add onnx "${files[@]}"

# poison_record: whole small files, and the first lines of each log (the logs are long).
mapfile -d '' files < <(fixtures '*.jsonl' '*.json')
for f in "${files[@]}"; do
    case "$f" in */poison-monitor/*) ;; *) continue ;; esac
    if [ "$(wc -c < "$f")" -le 4096 ]; then
        add poison_record "$f"
    else
        tmp=$(mktemp)
        head -n 8 "$f" > "$tmp"
        add poison_record "$tmp"
        rm -f "$tmp"
    fi
done

for t in "$corpus"/*/; do
    printf '%-14s %5d files %8d bytes\n' "$(basename "$t")" "$(find "$t" -type f | wc -l)" \
        "$(cat "$t"/* | wc -c)"
done
