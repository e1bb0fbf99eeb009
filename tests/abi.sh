#!/bin/sh
# ABI check: the shared library against the ABI of every release of the same
# major version recorded in abi/ (abi/libbufpool-1.0.0.abi, ...; see
# abi/README.md), with libabigail's abidw and abidiff.
#  - no function of a release is gone and none of the types it uses (through
#    include/bufpool.h: bufpool_config, bufpool_stats, parameters, returns)
#    changed; added functions and types are fine;
#  - every symbol of a release is still exported at its version node
#    (BUFPOOL_1.0 for the functions of 1.0.0);
#  - libbufpool.map lists every function the code exports (BUFPOOL__API).
# 1.0.0 had no symbol versions, and abidiff pairs an unversioned function
# with a versioned one only to see that it was not removed, never to compare
# its types.  So an unversioned dump is compared with the same objects linked
# without the version script (BUILD_DIR/abi/libbufpool-nover.so, made by
# mk/ecosystem.mk), and the version nodes are checked with nm.
# Usage: abi.sh BUILD_DIR.  Exit 0 pass, 1 fail, 77 skip (abigail-tools
# missing, or a library built without -g: abidw needs its DWARF).
b=${1:?usage: abi.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)

for tool in abidw abidiff; do
    command -v "$tool" >/dev/null 2>&1 || { echo "skipped: $tool not installed (apt-get install abigail-tools)"; exit 77; }
done
so=$b/libbufpool.so.1
nover=$b/abi/libbufpool-nover.so
for f in "$so" "$nover"; do
    [ -e "$f" ] || { echo "FAIL: $f missing (make $f)"; exit 1; }
done
if ! readelf -S "$so" | grep -q '\.debug_info'; then
    echo "skipped: $so has no debug info (built without -g); abidw needs it"
    exit 77
fi
major=$(readelf -d "$so" | sed -n 's/.*SONAME.*\[libbufpool\.so\.\([0-9]*\)\].*/\1/p')
[ -n "$major" ] || { echo "FAIL: no SONAME libbufpool.so.N on $so"; exit 1; }

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok:   $*"; }

# The current ABI, as abi/README.md says a release's dump is made: only the
# types of the public header count.
dump() {
    abidw --headers-dir "$root/include" --drop-private-types --no-corpus-path \
        --no-comp-dir-path --short-locs --out-file "$2" "$1"
}
mkdir -p "$b/abi"
dump "$so" "$b/abi/libbufpool.abi" || { echo "FAIL: abidw $so"; exit 1; }
dump "$nover" "$b/abi/libbufpool-nover.abi" || { echo "FAIL: abidw $nover"; exit 1; }
ok "abidw wrote $b/abi/libbufpool.abi"

# Exported symbols as NAME@@NODE (nm -D); version nodes are absolute symbols.
exported=$(nm -D --defined-only "$so" | awk '$2 != "A" { print $NF }' | sort -u)
names=$(echo "$exported" | sed 's/@.*//' | sort -u)
nover_names=$(nm -D --defined-only "$nover" | awk '{ print $NF }' | sort -u)
if [ "$names" = "$nover_names" ]; then
    ok "libbufpool.map lists every exported function"
else
    fail "exported by the code but not by libbufpool.map (or the other way round):" \
        $(printf '%s\n%s\n' "$names" "$nover_names" | sort | uniq -u)
fi

nbase=0
for base in "$root"/abi/libbufpool-*.abi; do
    [ -e "$base" ] || continue
    rel=${base##*/libbufpool-}; rel=${rel%.abi}
    case $rel in
    "$major".*) ;;
    *) echo "note: $rel is another major version than libbufpool.so.$major: not compared"; continue ;;
    esac
    nbase=$((nbase + 1))
    node=BUFPOOL_$(echo "$rel" | cut -d. -f1-2)
    # NAME VERSION for every symbol of the release (VERSION empty if none).
    syms=$(sed -n "s/.*<elf-symbol name='\([^']*\)'\( version='\([^']*\)'\)\{0,1\}.*/\1 \3/p" "$base")
    [ -n "$syms" ] || { fail "$rel: no symbols in $base"; continue; }
    if echo "$syms" | awk '$2 != "" { found = 1 } END { exit !found }'; then
        cur=$b/abi/libbufpool.abi
    else
        cur=$b/abi/libbufpool-nover.abi
    fi

    # Each symbol at the node its release gave it (unversioned 1.0.0: BUFPOOL_1.0).
    wrong=""
    while read -r name ver; do
        echo "$exported" | grep -qx "$name@@${ver:-$node}" || wrong="$wrong $name@@${ver:-$node}"
    done <<EOF
$syms
EOF
    [ -z "$wrong" ] && ok "$rel: its $(echo "$syms" | wc -l) symbols keep their version nodes" \
        || fail "$rel: not exported as:$wrong"

    # abidiff's exit status is a bit field: 1 error, 2 usage error, 4 ABI
    # changed, 8 incompatible (a symbol removed).  4 alone can be additions
    # (fine) or changed types (not fine): ask again without the additions.
    abidiff "$base" "$cur" >"$b/abi/diff-$rel.txt" 2>&1
    rc=$?
    if [ $((rc & 3)) -ne 0 ]; then
        cat "$b/abi/diff-$rel.txt"; fail "$rel: abidiff failed (exit $rc)"
    elif [ $((rc & 8)) -ne 0 ]; then
        cat "$b/abi/diff-$rel.txt"; fail "$rel: incompatible ABI change (abidiff exit $rc)"
    elif [ $((rc & 4)) -ne 0 ]; then
        abidiff --no-added-syms "$base" "$cur" >"$b/abi/diff-$rel-changed.txt" 2>&1
        rc2=$?
        if [ "$rc2" -eq 0 ]; then
            cat "$b/abi/diff-$rel.txt"; ok "$rel: compatible, additions only"
        else
            cat "$b/abi/diff-$rel-changed.txt"; fail "$rel: ABI of $rel changed (abidiff exit $rc2)"
        fi
    else
        ok "$rel: ABI unchanged"
    fi
done
[ "$nbase" -gt 0 ] || fail "no abi/libbufpool-$major.*.abi to compare with"

if [ "$failures" -ne 0 ]; then
    echo "$failures ABI check(s) failed; abidiff reports in $b/abi/"
    exit 1
fi
echo "ABI compatible with every release of libbufpool.so.$major in abi/"
exit 0
