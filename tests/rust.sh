#!/bin/sh
# rust.sh BUILD: the Rust bindings (bindings/rust), five ways:
#   debug    cargo test --offline               (the crate builds its csrc/ copy itself)
#   ring_recv  the example receiving through io_uring with a BufRing (it
#            prints "SKIP: ring_recv: ..." where io_uring is not allowed)
#   release  cargo test --offline --release, and a --quick run of the bench example
#   tokio    examples/tokio-async (allocate_async under tokio, its bench row
#            --quick), with tokio from Debian's librust-tokio-dev
#   outside  the crate outside the repository: a copy, its package, a project
#            depending on it by path and one on a vendored copy (see below)
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

CARGO_TARGET_DIR=$out/target part debug "$cargo" test --offline -j "$jobs" &&
    CARGO_TARGET_DIR=$out/target part ring_recv "$cargo" run --offline -j "$jobs" --example ring_recv
CARGO_TARGET_DIR=$out/target part release "$cargo" test --offline --release -j "$jobs" &&
    CARGO_TARGET_DIR=$out/target part bench "$cargo" run --offline --release -j "$jobs" --example bench -- --quick

# ---- tokio: examples/tokio-async, a package of its own depending on the
# crate by path and on tokio from the directory source that Debian's
# librust-tokio-dev fills (its .cargo/config.toml): allocate_async under
# tokio's multi-thread runtime, then a --quick run of its async bench row.
registry=/usr/share/cargo/registry
if ls -d "$registry"/tokio-1.* > /dev/null 2>&1; then
    cd "$crate/examples/tokio-async" || exit 1
    CARGO_TARGET_DIR=$out/target-tokio part tokio "$cargo" run --offline --release -j "$jobs" &&
        CARGO_TARGET_DIR=$out/target-tokio part tokio-bench "$cargo" run --offline --release -j "$jobs" -- --bench --quick
    cd "$crate" || exit 1
else
    echo "SKIP: tokio: no tokio in $registry (install librust-tokio-dev)"
fi

# ---- outside: the crate away from this repository, as a user gets it.  In
# a temporary directory outside the tree: a copy of bindings/rust (its
# tests), the package `cargo package` makes of it (it must hold the C
# sources and header), a cargo project depending on the copy by path, one
# depending on `bufpool = "0.2"` from crates.io replaced by a vendor
# directory holding the package unpacked with its .cargo-checksum.json
# (what `cargo vendor` writes; cargo vendor itself needs the registry), and
# the copy without its C sources, linking the library built by the first
# run through BUFPOOL_LIB_DIR.  Everything goes at the end, the target
# directory too.
outside() (
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/bufpool-rust.XXXXXX") || exit 1
    trap 'rm -rf "$tmp"' EXIT
    # Its own target directory: the paths differ from run to run, so a kept
    # one would only pile up builds nothing reuses.
    export CARGO_TARGET_DIR=$tmp/target
    echo "in $tmp"
    mkdir "$tmp/bufpool" &&
        (cd "$crate" && tar --exclude=./target -cf - .) | tar -C "$tmp/bufpool" -xf - || exit 1
    cd "$tmp/bufpool" || exit 1

    # its tests ran in the tree above: here it must build
    echo "-- the copy: cargo build"
    "$cargo" build --offline -j "$jobs" || exit 1

    echo "-- the copy: cargo package"
    rm -rf "$CARGO_TARGET_DIR/package"
    "$cargo" package --offline --allow-dirty --no-verify -q || exit 1
    pkg=$(ls "$CARGO_TARGET_DIR"/package/bufpool-*.crate) || exit 1
    tar tzf "$pkg" > "$tmp/list" || exit 1
    for f in build.rs LICENSE csrc/include/bufpool.h csrc/src/internal.h probe/layout.c src/lib.rs; do
        grep -q "^bufpool-[^/]*/$f\$" "$tmp/list" || { echo "the package lacks $f"; exit 1; }
    done
    for f in "$crate"/csrc/src/*; do
        grep -q "^bufpool-[^/]*/csrc/src/$(basename "$f")\$" "$tmp/list" ||
            { echo "the package lacks csrc/src/$(basename "$f")"; exit 1; }
    done
    echo "$(wc -l < "$tmp/list") files in $(basename "$pkg"), the C sources and header among them"

    # A user's program: allocate, write, read back.
    for app in app-path app-vendored; do
        mkdir -p "$tmp/$app/src"
        cat > "$tmp/$app/src/main.rs" <<'EOF'
use bufpool::{Config, Pool};
use std::io::Write;
fn main() {
    let pool = Pool::new(Config::new(4096, 1 << 20)).expect("Pool::new");
    let mut a = pool.allocate(2).expect("allocate");
    write!(a, "hello, world").unwrap();
    let s = a.freeze().slice(7..);
    assert_eq!(&*s, b"world");
    assert_eq!(pool.stats().live_allocations, 1);
    drop(s);
    assert_eq!(pool.stats().live_allocations, 0);
    println!("bufpool {} from outside the repository: ok", bufpool::version());
}
EOF
    done
    printf '[package]\nname = "app-path"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[dependencies]\nbufpool = { path = "../bufpool" }\n' \
        > "$tmp/app-path/Cargo.toml"
    echo "-- a project depending on the copy by path"
    (cd "$tmp/app-path" && "$cargo" run --offline -j "$jobs") || exit 1

    echo "-- a project depending on a vendored copy"
    v=$tmp/app-vendored/vendor/bufpool
    mkdir -p "$v" && tar xzf "$pkg" -C "$v" --strip-components=1 || exit 1
    {
        printf '{"files":{'
        sep=""
        (cd "$v" && find . -type f ! -name .cargo-checksum.json | sed 's|^\./||' | LC_ALL=C sort) |
            while read -r f; do
                printf '%s"%s":"%s"' "$sep" "$f" "$(sha256sum "$v/$f" | cut -d' ' -f1)"
                sep=","
            done
        printf '},"package":"%s"}' "$(sha256sum "$pkg" | cut -d' ' -f1)"
    } > "$v/.cargo-checksum.json" || exit 1
    printf '[package]\nname = "app-vendored"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[dependencies]\nbufpool = "0.2"\n' \
        > "$tmp/app-vendored/Cargo.toml"
    mkdir -p "$tmp/app-vendored/.cargo"
    printf '[source.crates-io]\nreplace-with = "vendored-sources"\n\n[source.vendored-sources]\ndirectory = "vendor"\n' \
        > "$tmp/app-vendored/.cargo/config.toml"
    (cd "$tmp/app-vendored" && "$cargo" run --offline -j "$jobs") || exit 1
    grep -A2 'name = "bufpool"' "$tmp/app-vendored/Cargo.lock"

    echo "-- the copy without C sources, BUFPOOL_LIB_DIR set"
    lib=$(ls -t "$CARGO_TARGET_DIR"/debug/build/bufpool-*/out/libbufpool.a | head -1) || exit 1
    rm -rf "$tmp/bufpool/csrc/src"
    BUFPOOL_LIB_DIR=$(dirname "$lib") "$cargo" test --offline -j "$jobs" --test pool || exit 1
    echo "outside: passed"
)
part outside outside

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
