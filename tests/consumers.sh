#!/bin/sh
# Proves that an installed bufpool drops into a user's build the usual ways:
# installs it into a temporary prefix, checks what landed there, builds and
# runs a pkg-config consumer, a CMake find_package consumer (also after the
# prefix is moved), a static link and a C++ program against it, checks the
# exported symbols and the header's warnings, lints the man pages, then
# uninstalls and checks nothing is left.  `make help` names the variables.
# A staged install (DESTDIR) must name the real prefix, not the staging dir.
# Then the source tree's own CMakeLists.txt, shared and static: consumers
# that take it in with add_subdirectory and with FetchContent (a tree and a
# tarball URL: there is no network), and a CMake install found by
# find_package.
# Exit 0 pass, 1 fail, 77 skip (a needed tool is missing).
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
MAKE=${MAKE:-make}
CC=${CC:-cc}
CXX=${CXX:-c++}

for tool in pkg-config cmake nm readelf; do
    command -v "$tool" >/dev/null 2>&1 || { echo "skipped: $tool not installed"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bufpool-consumers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/usr
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok:   $*"; }
# Run a command quietly; on failure show its output and record the failure.
run() {
    what=$1; shift
    if "$@" >"$tmp/out.log" 2>&1; then ok "$what"; return 0; fi
    cat "$tmp/out.log"; fail "$what"; return 1
}

# The public functions, from their declarations in the header.
funcs=$(sed -n 's/^[a-z].*[ *]\(bufpool_[a-z_]*\)(.*/\1/p' "$root/include/bufpool.h" | sort -u)
[ -n "$funcs" ] || { echo "FAIL: no functions found in include/bufpool.h"; exit 1; }
nman=$(ls "$root"/man/*.3 | wc -l)

# Every path variable is given, so a LIBDIR or MANDIR set in the environment
# cannot send the install outside the temporary prefix.
inst() {
    dest=$1 pfx=$2; shift 2
    "$MAKE" -C "$root" --no-print-directory "$@" DESTDIR="$dest" PREFIX="$pfx" \
        LIBDIR="$pfx/lib" INCLUDEDIR="$pfx/include" MANDIR="$pfx/share/man"
}

# ---- make help names the variables an install takes
help=$("$MAKE" -C "$root" --no-print-directory help 2>&1)
missing=""
for v in PREFIX LIBDIR INCLUDEDIR MANDIR DESTDIR CC CFLAGS JOBS; do
    echo "$help" | grep -Eq "(^| )$v=" || missing="$missing $v"
done
[ -z "$missing" ] && ok "make help names the variables" || fail "make help lacks:$missing"

# ---- install into the prefix and check what landed there
run "make install PREFIX=$prefix" inst "" "$prefix" install || exit 1
lib=$prefix/lib
for f in include/bufpool.h lib/libbufpool.a lib/libbufpool.so lib/libbufpool.so.1 \
         lib/pkgconfig/bufpool.pc lib/cmake/bufpool/bufpoolConfig.cmake \
         lib/cmake/bufpool/bufpoolConfigVersion.cmake; do
    [ -e "$prefix/$f" ] || fail "installed $f missing"
done
so=$(ls "$lib"/libbufpool.so.*.*.* 2>/dev/null | head -n 1)
[ -n "$so" ] || { fail "no libbufpool.so.MAJOR.MINOR.PATCH installed"; exit 1; }
n=$(ls "$prefix"/share/man/man3/*.3 2>/dev/null | wc -l)
[ "$n" -eq "$nman" ] && ok "$n man pages installed" || fail "$n of $nman man pages installed"
# ... each saying the header's version in its footer
version=$(for part in MAJOR MINOR PATCH; do
    sed -n "s/^#define BUFPOOL_VERSION_$part  *\([0-9][0-9]*\).*/\1/p" "$root/include/bufpool.h"
done | paste -sd. -)
stale=""
for p in "$prefix"/share/man/man3/*.3; do
    [ -L "$p" ] || grep -q "^\.TH [^ ]* [^ ]* [^ ]* \"bufpool $version\"" "$p" || stale="$stale ${p##*/}"
done
[ -z "$stale" ] && ok "installed pages say bufpool $version" || fail "installed pages not saying bufpool $version:$stale"
readelf -d "$so" | grep -q 'SONAME.*\[libbufpool\.so\.1\]' && ok "SONAME libbufpool.so.1" \
    || fail "SONAME is not libbufpool.so.1"
grep -q "$prefix" "$lib/pkgconfig/bufpool.pc" && ok "the pkg-config file names the prefix" \
    || fail "the pkg-config file lacks the prefix"
# The CMake package finds the prefix from its own place (moved below).
grep -q "$tmp" "$lib/cmake/bufpool/bufpoolConfig.cmake" \
    && fail "the CMake package names an absolute path" || ok "the CMake package names no absolute path"

# ---- the shared library exports the API and nothing else, every symbol
# with a version node of libbufpool.map (BUFPOOL_1.0, ...), which nm shows
# as NAME@@NODE; the nodes themselves are absolute (A) symbols.
dyn=$(nm -D --defined-only "$so" | awk '$2 != "A" { print $NF }' | sort -u)
unversioned=$(echo "$dyn" | grep -v '@@BUFPOOL_[0-9][0-9]*\.[0-9][0-9]*$')
[ -z "$unversioned" ] && ok "every exported symbol has a BUFPOOL_ version" \
    || fail "exported without a BUFPOOL_ version node:" $unversioned
syms=$(echo "$dyn" | sed 's/@.*//' | sort -u)
extra=$(echo "$syms" | grep -v '^bufpool_')
[ -z "$extra" ] && ok "only bufpool_ symbols exported" || fail "non-API symbols exported:" $extra
missing=""
for f in $funcs; do echo "$syms" | grep -qx "$f" || missing="$missing $f"; done
[ -z "$missing" ] && ok "every public function exported" || fail "not exported:$missing"

# ---- every public function has a man page, and the pages lint clean
missing=""
for f in $funcs; do [ -e "$prefix/share/man/man3/$f.3" ] || missing="$missing $f"; done
[ -z "$missing" ] && ok "a man page for every public function" || fail "no man page for:$missing"
if command -v mandoc >/dev/null 2>&1; then
    # Full pages must be clean down to style hints; a variant page is a
    # symlink to one of them and must resolve.
    full="" dangling=""
    for p in "$prefix"/share/man/man3/*.3; do
        if [ -L "$p" ]; then [ -e "$p" ] || dangling="$dangling ${p##*/}"; else full="$full man3/${p##*/}"; fi
    done
    run "mandoc -T lint (pages)" sh -c "cd '$prefix/share/man' && mandoc -T lint -W style $full"
    [ -z "$dangling" ] && ok "every variant page links to a page" || fail "dangling man links:$dangling"
else
    echo "SKIP: man page lint: mandoc not installed (apt-get install mandoc)"
fi
if command -v groff >/dev/null 2>&1 && command -v man >/dev/null 2>&1; then
    run "man --warnings" sh -c "cd '$prefix/share/man' && for p in man3/*.3; do
        MANWIDTH=80 man --warnings -l \"\$p\" 2>&1 >/dev/null | grep . && exit 1; done; exit 0"
fi

# ---- the header is warning-free as C11 and as C++, with extern "C" linkage
# A sanitizer build of the library needs its runtime in every program that
# links it; CFLAGS carries it when make check runs us.
san=$(printf ' %s' ${CFLAGS:-} | grep -o -- ' -fsanitize=[^ ]*' | tr '\n' ' ')
printf '#include <bufpool.h>\nint main(void) { return bufpool_version() == BUFPOOL_VERSION ? 0 : 1; }\n' >"$tmp/hdr.c"
run "header as C11" "$CC" $san -std=c11 -Wall -Wextra -Wpedantic -Werror -I"$prefix/include" \
    "$tmp/hdr.c" -o "$tmp/hdr_c" -L"$lib" -lbufpool &&
    run "C11 program runs" env LD_LIBRARY_PATH="$lib" "$tmp/hdr_c"
if command -v "$CXX" >/dev/null 2>&1; then
    run "header as C++" "$CXX" $san -x c++ -Wall -Wextra -Wpedantic -Werror -I"$prefix/include" \
        "$tmp/hdr.c" -o "$tmp/hdr_cxx" -L"$lib" -lbufpool &&
        run "C++ program links and runs" env LD_LIBRARY_PATH="$lib" "$tmp/hdr_cxx"
else
    echo "SKIP: C++ header check: no C++ compiler ($CXX)"
fi

# ---- consumer 1: pkg-config
cp -r "$root/consumers/pkgconfig" "$tmp/pc"
if run "pkg-config consumer builds" env PKG_CONFIG_PATH="$lib/pkgconfig" "$MAKE" -C "$tmp/pc" CC="$CC"; then
    run "pkg-config consumer runs" env LD_LIBRARY_PATH="$lib" "$tmp/pc/consumer"
    # It must have linked the installed library, not some other copy.
    LD_LIBRARY_PATH="$lib" ldd "$tmp/pc/consumer" | grep -q "$lib/libbufpool.so.1" \
        && ok "pkg-config consumer uses the installed library" || fail "consumer resolves another libbufpool"
    # ... and recorded the version node of what it calls.
    nm -D "$tmp/pc/consumer" | grep -q ' U bufpool_create@BUFPOOL_1\.0$' \
        && ok "consumer binds bufpool_create@BUFPOOL_1.0" || fail "consumer lacks bufpool_create@BUFPOOL_1.0"
fi
# ... and a static copy, as the README describes, needing no library path.
run "static link builds" "$CC" $san -std=c11 $(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --cflags bufpool) \
    "$tmp/pc/main.c" -o "$tmp/static" "$lib/libbufpool.a" -pthread &&
    run "static link runs" "$tmp/static"

# ---- consumer 2: CMake find_package(bufpool) and bufpool::bufpool
if run "cmake consumer configures" cmake -S "$root/consumers/cmake" -B "$tmp/cm" \
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$CC"; then
    grep -q "^bufpool_DIR:PATH=$lib/cmake/bufpool\$" "$tmp/cm/CMakeCache.txt" \
        && ok "cmake found the installed package" || fail "cmake found bufpool elsewhere"
    run "cmake consumer builds" cmake --build "$tmp/cm" &&
        run "cmake consumer runs" env LD_LIBRARY_PATH="$lib" "$tmp/cm/consumer"
fi
# A request for another major version must be refused.
mkdir -p "$tmp/cm2"
cat >"$tmp/cm2/CMakeLists.txt" <<'EOF2'
cmake_minimum_required(VERSION 3.13)
project(bufpool_version_check LANGUAGES C)
find_package(bufpool 2.0 QUIET)
if(bufpool_FOUND)
  message(FATAL_ERROR "bufpool 1.x was accepted for a request of 2.0")
endif()
EOF2
run "cmake refuses a different major version" cmake -S "$tmp/cm2" -B "$tmp/cm2/b" -DCMAKE_PREFIX_PATH="$prefix"
# A moved install is still found whole, and what links it links the moved
# library.
moved=$tmp/moved
if run "move the prefix" mv "$prefix" "$moved"; then
    if run "cmake consumer of the moved prefix configures" cmake -S "$root/consumers/cmake" \
            -B "$tmp/cmm" -DCMAKE_PREFIX_PATH="$moved" -DCMAKE_C_COMPILER="$CC"; then
        grep -q "^bufpool_DIR:PATH=$moved/lib/cmake/bufpool\$" "$tmp/cmm/CMakeCache.txt" \
            && ok "cmake found the moved package" || fail "cmake found bufpool elsewhere"
        run "cmake consumer of the moved prefix builds" cmake --build "$tmp/cmm" &&
            run "cmake consumer of the moved prefix runs" env LD_LIBRARY_PATH="$moved/lib" "$tmp/cmm/consumer"
        grep -rq "$moved/include" "$tmp/cmm/CMakeFiles" && grep -rq "$moved/lib/libbufpool.so" "$tmp/cmm/CMakeFiles" \
            && ok "it compiled and linked against the moved prefix" || fail "it used paths outside the moved prefix"
    fi
    run "move the prefix back" mv "$moved" "$prefix"
fi

# ---- uninstall leaves nothing behind
run "make uninstall" inst "" "$prefix" uninstall
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] && ok "uninstall removed every file" || fail "left after uninstall:" $left

# ---- a staged install (packagers): files under DESTDIR name the real prefix
stage=$tmp/stage
if run "make install DESTDIR=stage PREFIX=/opt/bufpool" inst "$stage" /opt/bufpool install; then
    if grep -rq "$stage" "$stage/opt/bufpool/lib/pkgconfig" "$stage/opt/bufpool/lib/cmake"; then
        fail "staged pkg-config/CMake files contain the DESTDIR path"
    else
        grep -q '/opt/bufpool/lib' "$stage/opt/bufpool/lib/pkgconfig/bufpool.pc" \
            && ok "staged files name /opt/bufpool" || fail "staged pkg-config file lacks /opt/bufpool"
    fi
    run "make uninstall DESTDIR=stage" inst "$stage" /opt/bufpool uninstall
    left=$(find "$stage" -type f -o -type l)
    [ -z "$left" ] && ok "staged uninstall removed every file" || fail "left after staged uninstall:" $left
fi

# ---- bufpool's CMakeLists.txt: add_subdirectory, FetchContent, install(EXPORT)
# Warnings are errors in CI, as in the Makefile.  CMAKE_C_FLAGS is always
# given, so that CFLAGS from the environment (a sanitizer build) stays out.
cm_cflags=""
[ -n "${CI:-}" ] && cm_cflags=-Werror
make_so=${so##*/}
# The shared library CMake built: SONAME, the make build's file name
# (the same version), every symbol at a version node, the same symbols.
check_cmake_so() {
    what=$1 cso=$2
    [ -n "$cso" ] && [ -e "$cso" ] || { fail "$what: no libbufpool.so.*.*.* built"; return; }
    [ "${cso##*/}" = "$make_so" ] && ok "$what: ${cso##*/}, as make builds it" \
        || fail "$what: ${cso##*/}, make builds $make_so"
    readelf -d "$cso" | grep -q 'SONAME.*\[libbufpool\.so\.1\]' && ok "$what: SONAME libbufpool.so.1" \
        || fail "$what: SONAME is not libbufpool.so.1"
    cdyn=$(nm -D --defined-only "$cso" | awk '$2 != "A" { print $NF }' | sort -u)
    [ "$cdyn" = "$dyn" ] && ok "$what: exports what make's library does, with its versions" \
        || fail "$what: exports" $cdyn
}
# cm_consumer NAME SHARED SRC [cmake args]: configure, build and run the
# consumer in SRC with BUILD_SHARED_LIBS=SHARED, and check how it linked.
cm_consumer() {
    name=$1 shared=$2 src=$3; shift 3
    dir=$tmp/cm-$(echo "$name-$shared" | tr -c 'a-zA-Z0-9\n' -)
    label="$name, BUILD_SHARED_LIBS=$shared"
    run "$label: configures" cmake -S "$src" -B "$dir" -DCMAKE_C_COMPILER="$CC" \
        -DCMAKE_C_FLAGS="$cm_cflags" -DBUILD_SHARED_LIBS="$shared" "$@" || return 1
    run "$label: builds" cmake --build "$dir" || return 1
    run "$label: runs" "$dir/consumer" || return 1
    if readelf -d "$dir/consumer" | grep -q 'NEEDED.*\[libbufpool\.so\.1\]'; then
        [ "$shared" = ON ] && ok "$label: linked libbufpool.so.1" || fail "$label: linked libbufpool.so.1"
        check_cmake_so "$label" "$(find "$dir" -name 'libbufpool.so.*.*.*' | head -n 1)"
    else
        [ "$shared" = OFF ] && ok "$label: linked statically" || fail "$label: no libbufpool.so.1 needed"
    fi
}
cm_consumer "add_subdirectory" ON "$root/consumers/subdir" -DBUFPOOL_SOURCE_DIR="$root"
cm_consumer "add_subdirectory" OFF "$root/consumers/subdir" -DBUFPOOL_SOURCE_DIR="$root"
cm_consumer "FetchContent SOURCE_DIR" OFF "$root/consumers/fetchcontent" -DBUFPOOL_SOURCE_DIR="$root"
# A release tarball of what CMakeLists.txt needs, from the working tree.
if run "source tarball" tar -C "$root" -czf "$tmp/bufpool-src.tar.gz" --transform 's,^,bufpool/,' \
        CMakeLists.txt libbufpool.map bufpool.pc.in include src cmake man; then
    cm_consumer "FetchContent URL" ON "$root/consumers/fetchcontent" -DBUFPOOL_URL="file://$tmp/bufpool-src.tar.gz"
fi
# Installed by CMake, found by the find_package consumer.
cmprefix=$tmp/cmake-usr
if run "cmake build of bufpool (shared) configures" cmake -S "$root" -B "$tmp/cmi" \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$cm_cflags" -DBUILD_SHARED_LIBS=ON \
        -DCMAKE_INSTALL_PREFIX="$cmprefix" -DCMAKE_INSTALL_LIBDIR=lib &&
   run "cmake build of bufpool builds" cmake --build "$tmp/cmi" &&
   run "cmake --install" cmake --install "$tmp/cmi"; then
    for f in include/bufpool.h lib/libbufpool.so.1 lib/pkgconfig/bufpool.pc \
             lib/cmake/bufpool/bufpoolConfig.cmake lib/cmake/bufpool/bufpoolConfigVersion.cmake \
             lib/cmake/bufpool/bufpoolTargets.cmake; do
        [ -e "$cmprefix/$f" ] || fail "cmake installed no $f"
    done
    check_cmake_so "cmake install" "$(ls "$cmprefix"/lib/libbufpool.so.*.*.* 2>/dev/null | head -n 1)"
    if run "find_package consumer of the cmake install configures" cmake -S "$root/consumers/cmake" \
            -B "$tmp/cmc" -DCMAKE_PREFIX_PATH="$cmprefix" -DCMAKE_C_COMPILER="$CC"; then
        grep -q "^bufpool_DIR:PATH=$cmprefix/lib/cmake/bufpool\$" "$tmp/cmc/CMakeCache.txt" \
            && ok "cmake found the cmake-installed package" || fail "cmake found bufpool elsewhere"
        run "find_package consumer of the cmake install builds" cmake --build "$tmp/cmc" &&
            run "find_package consumer of the cmake install runs" \
                env LD_LIBRARY_PATH="$cmprefix/lib" "$tmp/cmc/consumer"
    fi
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all consumer checks passed"
exit 0
