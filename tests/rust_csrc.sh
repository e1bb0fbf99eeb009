#!/bin/sh
# rust_csrc.sh [check|sync]: the Rust crate's own copy of the C library.
#
# bindings/rust builds from its own directory alone (copied, vendored or
# packaged), so it carries the C sources it compiles:
#     src/*.c src/*.h   -> bindings/rust/csrc/src/
#     include/bufpool.h -> bindings/rust/csrc/include/
#     LICENSE           -> bindings/rust/LICENSE
#   check (the default, run by make check): exit 1, naming every file that
#         differs, is missing or is left over, when the copy is not exactly
#         that; exit 0 when it is.
#   sync  (make rust-sync): make it so.
# Whoever changes src/ or include/ runs `make rust-sync` and commits the copy.
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-check}
crate=$root/bindings/rust
csrc=$crate/csrc

# pairs "source destination", one a line, relative to the root
pairs() {
    for f in "$root"/src/*.c "$root"/src/*.h; do
        [ -e "$f" ] || continue
        b=${f##*/}
        echo "src/$b bindings/rust/csrc/src/$b"
    done
    echo "include/bufpool.h bindings/rust/csrc/include/bufpool.h"
    echo "LICENSE bindings/rust/LICENSE"
}

# files in the copy that no source maps to
leftovers() {
    dests=" $(pairs | cut -d' ' -f2 | tr '\n' ' ')"
    for d in src include; do
        [ -d "$csrc/$d" ] || continue
        for f in "$csrc/$d"/* "$csrc/$d"/.[!.]*; do
            [ -e "$f" ] || continue
            rel=bindings/rust/csrc/$d/${f##*/}
            case $dests in *" $rel "*) ;; *) echo "$rel" ;; esac
        done
    done
    for f in "$csrc"/* "$csrc"/.[!.]*; do
        [ -e "$f" ] || continue
        case ${f##*/} in src|include) ;; *) echo "bindings/rust/csrc/${f##*/}" ;; esac
    done
}

case $mode in
sync)
    mkdir -p "$csrc/src" "$csrc/include" || exit 1
    for rel in $(leftovers); do
        echo "rm $rel"
        rm -rf "${root:?}/$rel" || exit 1
    done
    pairs | while read -r from to; do
        cmp -s "$root/$from" "$root/$to" && continue
        echo "cp $from $to"
        cp "$root/$from" "$root/$to" || exit 1
    done
    ;;
check)
    bad=0
    n=0
    while read -r from to; do
        n=$((n + 1))
        if [ ! -e "$root/$to" ]; then
            echo "missing: $to (copy of $from)"
            bad=1
        elif ! cmp -s "$root/$from" "$root/$to"; then
            echo "differs: $to from $from"
            diff -u "$root/$to" "$root/$from" | head -20
            bad=1
        fi
    done <<EOF
$(pairs)
EOF
    for rel in $(leftovers); do
        echo "left over: $rel (no such file in src/ or include/)"
        bad=1
    done
    if [ $bad -ne 0 ]; then
        echo "FAIL: the crate's copy of the C library (bindings/rust/csrc) is out of date: run \`make rust-sync\` and commit it"
        exit 1
    fi
    echo "bindings/rust/csrc: $n files, the same as src/, include/ and LICENSE"
    ;;
*)
    echo "usage: rust_csrc.sh [check|sync]" >&2
    exit 2
    ;;
esac
