# The Rust bindings (bindings/rust, the `bufpool` crate), run by `make check`.
# Included by the top-level Makefile after BUILD and CHECK_PROGS are defined.
#
# cargo builds the C library itself (bindings/rust/build.rs compiles
# src/*.c), so the wrapper depends on no make target.  tests/rust.sh runs
# `cargo test --offline` in debug and release, a quick run of the bench
# example, and the tests against the library built with ASan+UBSan; target
# directories go to $(BUILD)/rust.  It exits 77 (skipped) without cargo and
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
