# The man pages carry the version include/bufpool.h defines (VERSION, from
# the top Makefile): in every page's footer (.TH) and in the BUFPOOL_VERSION_*
# lines of bufpool(3) and bufpool_version(3)'s synopses.  `make man-version`
# writes it into man/ after the header's version changes; `make check` runs
# tests/man_version.sh, which fails while a page says another; `make
# install` writes it into the installed pages whatever man/ says.

# sed expressions that put VERSION into a page.
MAN_VERSION_SED := \
	-e 's/^\(\.TH [^ ]* [^ ]* [^ ]* "bufpool \)[0-9][0-9.]*"/\1$(VERSION)"/' \
	-e 's/^\(\.B "\#define BUFPOOL_VERSION_MAJOR \)[0-9]*"/\1$(VERSION_MAJOR)"/' \
	-e 's/^\(\.B "\#define BUFPOOL_VERSION_MINOR \)[0-9]*"/\1$(VERSION_MINOR)"/' \
	-e 's/^\(\.B "\#define BUFPOOL_VERSION_PATCH \)[0-9]*"/\1$(VERSION_PATCH)"/'
# The pages proper; the others are symlinks to them.
MAN_PAGES := $(shell find man -maxdepth 1 -name '*.3' -type f | sort)

.PHONY: man-version
man-version:
	sed -i $(MAN_VERSION_SED) $(MAN_PAGES)

# The check, with a wrapper in the build directory for the runner's log.
$(BUILD)/tests/man_version.sh: tests/man_version.sh
	@mkdir -p $(dir $@)
	printf '#!/bin/sh\nexec "%s/tests/man_version.sh" "$$@"\n' "$(CURDIR)" > $@
	chmod +x $@
CHECK_PROGS += $(BUILD)/tests/man_version.sh
