#!/bin/sh
# Checks that src/ is layered: each file calls only files below it in the
# order that src/internal.h's "LAYERS:" line gives (so the files' call graph
# has no cycle).  The calls are read from the objects with nm: a file calls
# another when its object uses a global symbol the other's object defines.
# Every src/*.c must be in the list.  Usage: layers.sh OBJDIR... (one per
# library variant: release, debug, hooks; their conditional code differs).
# Exit 0 pass, 1 fail, 77 skip (no nm).
root=$(cd "$(dirname "$0")/.." && pwd)
command -v nm >/dev/null 2>&1 || { echo "skipped: no nm (binutils)"; exit 77; }
[ $# -gt 0 ] || { echo "usage: layers.sh OBJDIR..."; exit 1; }
order=$(sed -n 's/^ \* LAYERS: //p' "$root/src/internal.h")
[ -n "$order" ] || { echo "FAIL: no LAYERS: line in src/internal.h"; exit 1; }
failed=0
for f in "$root"/src/*.c; do
    name=$(basename "$f" .c)
    case " $order " in
    *" $name "*) ;;
    *) echo "FAIL: src/$name.c is not in the LAYERS list"; failed=1 ;;
    esac
done
for dir in "$@"; do
    rank=0 table=
    for name in $order; do
        obj=$dir/$name.o
        [ -f "$obj" ] || { echo "FAIL: $obj missing"; failed=1; continue; }
        # rank name D symbol, for each global definition; rank name U symbol
        # for each use
        table="$table$(nm "$obj" | awk -v r=$rank -v n=$name '
            NF == 2 && $1 == "U" { print r, n, "U", $2 }
            NF == 3 && $2 ~ /^[TDBRVWGS]$/ { print r, n, "D", $3 }')
"
        rank=$((rank + 1))
    done
    bad=$(printf '%s' "$table" | awk '
        $3 == "D" { owner[$4] = $2; orank[$4] = $1 }
        $3 == "U" { use[++k] = $0 }
        END {
            for (i = 1; i <= k; i++) {
                split(use[i], u, " ")
                s = u[4]
                if ((s in owner) && owner[s] != u[2] && orank[s] >= u[1])
                    print "  " u[2] ".c calls up into " owner[s] ".c (" s ")"
            }
        }' | sort -u)
    if [ -n "$bad" ]; then
        echo "FAIL [$dir]: calls against the layer order ($order):"
        echo "$bad"
        failed=1
    else
        echo "ok    [$dir] every call goes down the layers"
    fi
done
[ $failed = 0 ] && echo "layers: $order"
exit $failed
