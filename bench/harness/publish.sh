#!/bin/sh
# publish.sh RESULTS DOC [PLOT]: `make bench` puts its tables into the
# user's docs, so that they hold one copy of them.
#
# DOC keeps everything up to and including its marker line
#     <!-- results: written by make bench -->
# and everything after it is replaced by RESULTS (build/bench/results.md)
# without its title line, every heading one level down (the results sit
# under DOC's "## Results").  PLOT, when given and present, is copied
# beside DOC as bench.png.  DOC is left as it was if it has no marker.
# Exit 0 on success.
marker='<!-- results: written by make bench -->'
results=$1 doc=$2 plot=$3
[ -s "$results" ] || { echo "publish: no results in $results"; exit 1; }
[ -f "$doc" ] && grep -qxF "$marker" "$doc" ||
    { echo "publish: $doc has no line '$marker': not updated"; exit 1; }
tmp="$doc.tmp.$$"
{
    awk -v m="$marker" '{ print } $0 == m { exit }' "$doc"
    echo
    # the title and the blank line after it go; the rest one level down
    awk 'NR == 1 && /^# / { skip = 1; next } skip && /^$/ { skip = 0; next }
         { skip = 0; if (/^#/) $0 = "#" $0; print }' "$results"
} > "$tmp" && mv "$tmp" "$doc" || { rm -f "$tmp"; echo "publish: cannot write $doc"; exit 1; }
echo "publish: $doc (results from $results)"
if [ -n "$plot" ] && [ -s "$plot" ]; then
    cp "$plot" "$(dirname "$doc")/bench.png" && echo "publish: $(dirname "$doc")/bench.png"
fi
