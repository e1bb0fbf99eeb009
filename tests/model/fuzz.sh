#!/bin/sh
# Builds tests/model/fuzz_model.c (the model-based test, tests/model/model.h)
# as a libFuzzer target with clang -fsanitize=fuzzer,address,undefined,
# library sources included, and runs it for FUZZ_SECONDS (default 10) from
# the seed corpus tests/model/corpus/ (new inputs go to BUILD_DIR/fuzz/corpus).
# The corpus: ten hand-made seeds and 104 inputs that cover every edge a
# four-minute run found (fuzz_model -merge=1 -use_counters=0 of its
# output): replayed in under a second, they reach 1122-1127 edges (it
# varies a little from run to run), where the seeds alone reached 1023
# and a 30 s run from them 1113.  So a short run starts past where a long
# one used to end (the whole program: 16 s of CPU, 34 with 30 s).
# Usage: fuzz.sh BUILD_DIR.  Exit 0 pass, 1 fail (a crash: the input is in
# BUILD_DIR/fuzz/), 77 skip (no clang or no libFuzzer).
root=$(cd "$(dirname "$0")/../.." && pwd)
b=${1:?usage: fuzz.sh BUILD_DIR}
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null 2>&1 || { echo "skipped: clang not installed"; exit 77; }
out=$b/fuzz
mkdir -p "$out/corpus" || exit 1
if ! "$CLANG" -std=gnu11 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=all -I"$root/include" -I"$root/src" -pthread \
        "$root/tests/model/fuzz_model.c" "$root"/src/*.c -o "$out/fuzz_model" > "$out/build.log" 2>&1; then
    if grep -qi "fuzzer" "$out/build.log"; then
        cat "$out/build.log"; echo "skipped: clang's libFuzzer unavailable (libclang-rt-dev)"; exit 77
    fi
    cat "$out/build.log"; echo "FAIL: building the fuzz target"; exit 1
fi
cd "$out" || exit 1
./fuzz_model -max_total_time="${FUZZ_SECONDS:-10}" -timeout=20 -rss_limit_mb=2048 -max_len=1024 \
    -error_exitcode=1 -print_final_stats=1 corpus "$root/tests/model/corpus"
