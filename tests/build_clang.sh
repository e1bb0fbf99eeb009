#!/bin/sh
# Builds the library, the tests and the examples with clang at
# -Wall -Wextra -Wpedantic -Werror (gcc is covered by the normal build in CI).
# Skips when clang is absent.
command -v clang >/dev/null 2>&1 || { echo "skipped: clang not installed"; exit 77; }
cd "$(dirname "$0")/.." || exit 1
exec make -s BUILD=build-clang CC=clang WERROR=-Werror CFLAGS="-O2 -g" lib tests-build
