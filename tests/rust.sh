#!/bin/sh
# rust.sh BUILD: the Rust bindings (bindings/rust), three ways:
#   debug    cargo test --offline               (the crate builds ../../src/*.c itself)
#   release  cargo test --offline --release, and a --quick run of the bench example
#   asan     the C library built with -fsanitize=address,undefined into
#            BUILD/rust/asan-lib, linked through BUFPOOL_LIB_DIR into the
#            plain Rust tests, with the sanitizer runtimes linked in
# Target directories live under BUILD/rust (CARGO_TARGET_DIR), and so does
# CARGO_HOME when the usual one is not writable.  Exit 0 pass, 1 fail, 77
# skip (no cargo).  A part that cannot run here prints "SKIP: part: reason"
# (tests/run.sh counts those lines); so do tests that skip a part (a
# refused mlock, say), once each however many of the three runs saw it.
# mk/rust.mk makes the wrapper BUILD/tests/rust.sh that runs this script.
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: rust.sh BUILD_DIR}
crate=$root/bindings/rust
jobs=${BUFPOOL_JOBS:-$(nproc 2>/dev/null || echo 1)}

cargo=$(command -v cargo 2>/dev/null)
[ -z "$cargo" ] && [ -x "$HOME/.cargo/bin/cargo" ] && cargo=$HOME/.cargo/bin/cargo
if [ -z "$cargo" ]; then
    echo "skipped: cargo not found (install a Rust toolchain to test bindings/rust)"
    exit 77
fi
case $cargo in */*) PATH=$(dirname "$cargo"):$PATH; export PATH ;; esac

out=$build/rust
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
# CARGO_HOME: the usual one if we may write there, else one of our own.
home=${CARGO_HOME:-$HOME/.cargo}
if ! { mkdir -p "$home" 2>/dev/null && [ -w "$home" ]; }; then
    export CARGO_HOME=$out/cargo-home
    mkdir -p "$CARGO_HOME"
    echo "CARGO_HOME $home is not writable: using $CARGO_HOME"
fi
export CARGO_TERM_COLOR=never
# The runner gives this script BUFPOOL_JOBS slots: build and test with that many.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-$jobs}
"$cargo" --version || exit 1
cd "$crate" || exit 1

failed=""
: > "$out/skips"
# part NAME CMD...: run CMD, its output in BUILD/rust/NAME.log and here;
# its SKIP: lines are collected and shown once at the end.
part() {
    name=$1; shift
    echo "== $name: $*"
    "$@" > "$out/$name.log" 2>&1
    rc=$?
    sed 's/^SKIP: /(skip) /' "$out/$name.log"
    grep '^SKIP: ' "$out/$name.log" >> "$out/skips"
    if [ $rc -ne 0 ]; then
        echo "FAIL: $name (exit $rc)"
        failed="$failed $name"
    fi
    return $rc
}

CARGO_TARGET_DIR=$out/target part debug "$cargo" test --offline -j "$jobs"
CARGO_TARGET_DIR=$out/target part release "$cargo" test --offline --release -j "$jobs" &&
    CARGO_TARGET_DIR=$out/target part bench "$cargo" run --offline --release -j "$jobs" --example bench -- --quick

# ---- asan: a compiler that builds and runs an ASan+UBSan program, the C
# library built with it, and the Rust tests linked with its runtimes (and
# by it: the runtimes must match the compiler that instrumented the code).
san="-fsanitize=address,undefined"
san_cc=""
for c in "${CC:-cc}" gcc clang; do
    command -v "${c%% *}" > /dev/null 2>&1 || continue
    printf 'int main(void){return 0;}\n' > "$out/asan-probe.c"
    if $c $san -o "$out/asan-probe" "$out/asan-probe.c" > /dev/null 2>&1 && "$out/asan-probe"; then
        san_cc=$c
        break
    fi
done
rm -f "$out/asan-probe" "$out/asan-probe.c"
if [ -z "$san_cc" ]; then
    echo "SKIP: asan: neither ${CC:-cc}, gcc nor clang can build and run a $san program here (sanitizer runtimes missing: libasan/libubsan, or clang's libclang-rt)"
else
    lib=$out/asan-lib
    rm -rf "$lib" && mkdir -p "$lib/obj"
    echo "== asan: building the C library with $san_cc $san into $lib"
    ok=1
    for f in "$root"/src/*.c; do
        o=$lib/obj/$(basename "$f" .c).o
        $san_cc -std=gnu11 -O1 -g -fno-omit-frame-pointer $san -fno-sanitize-recover=all \
            -fPIC -fvisibility=hidden -pthread -I"$root/include" -I"$root/src" -c "$f" -o "$o" || ok=0
    done
    if [ $ok -eq 1 ] && ar crs "$lib/libbufpool.a" "$lib"/obj/*.o; then
        # -C default-linker-libraries: rustc otherwise links with
        # -nodefaultlibs, under which the compiler driver leaves the
        # sanitizer runtimes out despite -fsanitize.
        flags="-C linker=${san_cc%% *} -C link-arg=$san -C default-linker-libraries=yes"
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        BUFPOOL_EXPECT_ASAN=1 BUFPOOL_LIB_DIR=$lib RUSTFLAGS=$flags RUSTDOCFLAGS=$flags \
        CARGO_TARGET_DIR=$out/target-asan part asan "$cargo" test --offline -j "$jobs"
    else
        echo "FAIL: asan (building the C library)"
        failed="$failed asan"
    fi
fi

sort -u "$out/skips"
if [ -n "$failed" ]; then
    echo "failed:$failed"
    exit 1
fi
echo "rust: passed"
exit 0
