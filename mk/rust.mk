# The Rust bindings (bindings/rust, the `bufpool` crate), run by `make check`.
# Included by the top-level Makefile after BUILD and CHECK_PROGS are defined.
#
# cargo builds the C library itself (bindings/rust/build.rs compiles the
# crate's copy, bindings/rust/csrc), so the wrapper depends on no make
# target.  tests/rust.sh runs `cargo test --offline` in debug and release, a
# quick run of the bench example, the tokio example (examples/tokio-async,
# with Debian's librust-tokio-dev), the tests against the library built with
# ASan+UBSan, and the crate outside the repository (a copy, a cargo project
# depending on it by path, and one on a vendored copy of its package);
# target directories go to $(BUILD)/rust.  It exits 77 (skipped) without cargo and
# prints "SKIP: <part>: <reason>" for a part it cannot run here.
$(BUILD)/tests/rust.sh: tests/rust.sh
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/rust.sh" "%s" "$$@"\n' "$(CURDIR)" "$(abspath $(BUILD))" > $@
	chmod +x $@
CHECK_PROGS += $(BUILD)/tests/rust.sh

# `make rust-check` runs it alone.
.PHONY: rust-check
rust-check: $(BUILD)/tests/rust.sh
	@tests/run.sh $(BUILD)/tests/rust.sh

# The crate's own copy of the C library (bindings/rust/csrc: src/*.c,
# src/*.h, include/bufpool.h; and LICENSE), which its build.rs compiles, so
# that the crate builds from its own directory (copied, vendored, packaged).
# `make rust-sync` refreshes it; tests/rust_csrc.sh in make check fails
# while it differs from src/ and include/.
.PHONY: rust-sync
rust-sync:
	@tests/rust_csrc.sh sync

$(BUILD)/tests/rust_csrc.sh: tests/rust_csrc.sh
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/rust_csrc.sh" check\n' "$(CURDIR)" > $@
	chmod +x $@
CHECK_PROGS += $(BUILD)/tests/rust_csrc.sh
