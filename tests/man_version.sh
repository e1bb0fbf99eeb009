#!/bin/sh
# man_version.sh: the man pages say the version include/bufpool.h defines,
# and bufpool(3) names every example.  Each page's footer (.TH) must say
# "bufpool MAJOR.MINOR.PATCH"; bufpool(3) and bufpool_version(3) must show
# the header's BUFPOOL_VERSION_MAJOR, _MINOR and _PATCH in their synopses;
# bufpool(3) must name each examples/*.c.  `make man-version` writes the
# header's version into the pages (mk/man.mk).
# Exit 0 pass, 1 fail.
root=$(cd "$(dirname "$0")/.." && pwd)
hdr=$root/include/bufpool.h
part() { sed -n "s/^#define BUFPOOL_VERSION_$1  *\([0-9][0-9]*\).*/\1/p" "$hdr"; }
major=$(part MAJOR) minor=$(part MINOR) patch=$(part PATCH)
if [ -z "$major" ] || [ -z "$minor" ] || [ -z "$patch" ]; then
    echo "FAIL: no BUFPOOL_VERSION_MAJOR/MINOR/PATCH in $hdr"
    exit 1
fi
version=$major.$minor.$patch
failed=0
fail() { echo "FAIL: $*"; failed=1; }

pages=0
for p in "$root"/man/*.3; do
    [ -L "$p" ] && continue # a variant's page: a symlink to the one above
    pages=$((pages + 1))
    name=${p##*/}
    v=$(sed -n 's/^\.TH [^ ]* [^ ]* [^ ]* "bufpool \([^"]*\)".*/\1/p' "$p") # its 4th field
    [ "$v" = "$version" ] || fail "$name: its footer says \"bufpool ${v:-?}\", the header $version"
done
for name in bufpool.3 bufpool_version.3; do
    for x in MAJOR:$major MINOR:$minor PATCH:$patch; do
        what=${x%%:*} want=${x#*:}
        got=$(sed -n "s/^\.B \"#define BUFPOOL_VERSION_$what \([0-9]*\)\"\$/\1/p" "$root/man/$name")
        [ "$got" = "$want" ] ||
            fail "$name: its synopsis shows BUFPOOL_VERSION_$what ${got:-?}, the header $want"
    done
done
for e in "$root"/examples/*.c; do
    grep -q "^\.I ${e##*/}\$" "$root/man/bufpool.3" || fail "bufpool.3 does not name examples/${e##*/}"
done

if [ "$failed" -ne 0 ]; then
    echo "(make man-version writes the header's version into the pages)"
    exit 1
fi
echo "man pages: $pages pages say bufpool $version; bufpool(3) names every example"
exit 0
