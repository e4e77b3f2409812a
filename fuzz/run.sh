#!/usr/bin/env bash
# Runs the fuzz targets one after another (one fuzzer at a time, niced), each for its time slot
# (counted from the end of the first build), logging to fuzz/logs/<target>/ and a summary to
# fuzz/logs/driver.log. When a run stops early on a crash, oom or timeout, the target is rebuilt
# (picking up any fix made meanwhile) and restarted for the rest of its slot, at most 5 times.
# Usage: fuzz/run.sh [target[:seconds]]...  (default: every target, 900 s for pickle, 600 s for
# the others).
# MLSEC_FUZZ_RUNS=N stops each target after N executions (the slot is then a cap);
# MLSEC_FUZZ_SANITIZER=none builds without AddressSanitizer (into fuzz/target-none): about 5x the
# executions per second. Our crates deny `unsafe`, so ASan only guards the dependencies'
# unsafe code; panics, timeouts and the RSS limit are caught either way (the malloc limit needs
# a sanitizer's allocator hooks and is not in force without one).
set -uo pipefail

fuzz=$(cd "$(dirname "$0")" && pwd)
sanitizer=${MLSEC_FUZZ_SANITIZER:-address}
build=(-O -s "$sanitizer")
target_dir="$fuzz/target"
if [ "$sanitizer" != address ]; then
    target_dir="$fuzz/target-$sanitizer"
    build+=(--target-dir "$target_dir")
fi
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"
# -detect_leaks=0: LeakSanitizer reports the 32-byte glibc record of a thread-local destructor
# registered during the first input that touches it (freed at exit; not a leak in the parser).
flags=(-rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=10 -jobs=1 -workers=1 -print_final_stats=1
    -detect_leaks=0)
[ -n "${MLSEC_FUZZ_RUNS:-}" ] && flags+=(-runs="$MLSEC_FUZZ_RUNS")

if [ $# -eq 0 ]; then
    set -- pickle:900 zip_torch:600 safetensors:600 npy:600 pbtxt:600 onnx:600 poison_record:600 hdf5:600 joblib:600 \
        gguf:600 tar:600 traversal:600
fi

for spec in "$@"; do
    target=${spec%%:*}
    slot=${spec#*:}
    [ "$slot" = "$spec" ] && slot=600
    logs="$fuzz/logs/$target"
    mkdir -p "$logs" "$fuzz/corpus/$target" "$fuzz/artifacts/$target"
    deadline=
    run=0
    while :; do
        left=$((${deadline:-0} - $(date +%s)))
        [ -z "$deadline" ] || [ "$left" -ge 20 ] && [ "$run" -lt 6 ] || break
        run=$((run + 1))
        echo "$(date -u +%FT%TZ) $target run $run: building" >> "$fuzz/logs/driver.log"
        (cd "$fuzz/.." && nice -n 10 cargo +nightly fuzz build "${build[@]}" "$target") \
            > "$logs/build-$run.log" 2>&1 || { echo "build failed" >> "$fuzz/logs/driver.log"; break; }
        # The slot is fuzzing time: it starts once the first build is done.
        deadline=${deadline:-$(($(date +%s) + slot))}
        left=$((deadline - $(date +%s)))
        echo "$(date -u +%FT%TZ) $target run $run: fuzzing ${left}s" >> "$fuzz/logs/driver.log"
        (cd "$logs" && nice -n 10 "$bin_dir/$target" "${flags[@]}" -max_total_time="$left" \
            -artifact_prefix="$fuzz/artifacts/$target/" "$fuzz/corpus/$target" \
            > "run-$run.out" 2>&1)
        status=$?
        mv "$logs/fuzz-0.log" "$logs/run-$run.log" 2>/dev/null
        echo "$(date -u +%FT%TZ) $target run $run: exit $status" >> "$fuzz/logs/driver.log"
        grep -h "^#[0-9]*.*DONE\|^stat::\|==ERROR\|^SUMMARY\|panicked at" "$logs/run-$run.log" \
            >> "$fuzz/logs/driver.log" 2>/dev/null
        [ "$status" -eq 0 ] && break
    done
done
echo "$(date -u +%FT%TZ) all done" >> "$fuzz/logs/driver.log"
