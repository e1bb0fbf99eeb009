#!/bin/sh
# valgrind memcheck: the unit tests, the model test, the bad-input and the
# fault-injection tests must be clean (--error-exitcode=1
# --leak-check=full).  Then, against the library built with
# -DBUFPOOL_VALGRIND (client requests), a use-after-release of a cached
# allocation must be reported, and correct use must not be.
# Usage: valgrind.sh BUILD_DIR.  Exit 0 pass, 1 fail, 77 skip (no valgrind).
# Without valgrind/memcheck.h the use-after-release part is skipped (a
# "SKIP: part: reason" line, which tests/run.sh counts).
b=${1:?usage: valgrind.sh BUILD_DIR}
command -v valgrind >/dev/null 2>&1 || { echo "skipped: valgrind not installed"; exit 77; }
vg="valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible"
export BUFPOOL_MODEL_SEQS=${BUFPOOL_VG_MODEL_SEQS:-150}
failed=0
for t in test_api test_region_alloc test_model test_badinput test_faults; do
    [ -x "$b/tests/$t" ] || { echo "FAIL: $b/tests/$t missing"; failed=1; continue; }
    if $vg "$b/tests/$t" > "$b/tests/$t.vg.log" 2>&1; then
        echo "ok    memcheck clean: $t"
    else
        tail -n 30 "$b/tests/$t.vg.log"; echo "FAIL  memcheck: $t"; failed=1
    fi
done
uar=$b/tests/vg_use_after_release
if [ ! -x "$uar" ]; then
    echo "SKIP: use-after-release check: valgrind/memcheck.h absent"
else
    if valgrind -q --error-exitcode=99 "$uar" ok > "$uar.ok.log" 2>&1; then
        echo "ok    correct use of recycled memory: no report"
    else
        cat "$uar.ok.log"; echo "FAIL  memcheck reported correct use of recycled memory"; failed=1
    fi
    valgrind -q --error-exitcode=99 "$uar" bad > "$uar.bad.log" 2>&1
    rc=$?
    if [ $rc -eq 99 ] && grep -q "Invalid write" "$uar.bad.log" && grep -q "Invalid read" "$uar.bad.log"; then
        echo "ok    use-after-release of a cached allocation reported by memcheck"
    else
        cat "$uar.bad.log"; echo "FAIL  use-after-release of a cached allocation not reported (exit $rc)"; failed=1
    fi
fi
exit $failed
