#!/bin/sh
# bench/harness/rust.sh RESULTS BUILD [--quick]: the Rust crate's tables,
# appended to RESULTS (make bench runs it after the io_uring copy): the
# crate's roundtrip bench (bindings/rust/examples/bench.rs: Pool, compat
# and the C call side by side) and the async row of the tokio example
# (allocate_async against tokio's Semaphore).  A table that cannot run
# here (no cargo, no tokio in Debian's registry) says so in RESULTS.
results=$1 build=$2 quick=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
crate=$root/bindings/rust
cargo=${CARGO:-$(command -v cargo || echo "$HOME/.cargo/bin/cargo")}
{
    echo
    echo "## Rust crate (bindings/rust)"
    echo
} >> "$results"
if ! [ -x "$cargo" ] && ! command -v "$cargo" > /dev/null 2>&1; then
    echo "Not measured: cargo is not installed." >> "$results"
    echo "bench: Rust tables skipped (no cargo)"
    exit 0
fi
echo "bench: the Rust crate's roundtrip bench ..."
{
    echo "### Roundtrip through the crate: \`cargo run --release --example bench\`"
    echo
    (cd "$crate" && CARGO_TARGET_DIR=$build/rust-bench "$cargo" run -q --offline --release --example bench -- $quick)
} >> "$results" || { echo "bench: the crate's bench failed"; exit 1; }
{
    echo
    echo "### Async: one task awaiting, one releasing, a budget of one buffer"
    echo
} >> "$results"
if ls -d /usr/share/cargo/registry/tokio-1.* > /dev/null 2>&1; then
    echo "bench: the tokio example's async row ..."
    (cd "$crate/examples/tokio-async" &&
        CARGO_TARGET_DIR=$build/rust-bench-tokio "$cargo" run -q --offline --release -- --bench $quick) \
        >> "$results" || { echo "bench: the tokio example's bench failed"; exit 1; }
else
    echo "Not measured: tokio is not in /usr/share/cargo/registry (apt-get install librust-tokio-dev)." >> "$results"
    echo "bench: async row skipped (no librust-tokio-dev)"
fi
echo >> "$results"
