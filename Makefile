# kefu: make builds, make check tests (twice: plain, then ASan+UBSan, then
# the Debian package), make run chats with the bot, make install installs,
# make deb packages.
#
# The developer targets (all, check, run, bench, eval) first install
# missing Debian packages (.ci/deps), then call this Makefile again for the
# work, so that pkg-config sees them.  build and install never do: they
# work under fakeroot and in a build chroot without network.
#
# CPPFLAGS, CFLAGS and LDFLAGS come from the environment (dpkg-buildflags'
# hardening applies); -Werror only where WERROR says so (developers, CI).

VERSION = 0.1.0
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
PLUGINDIR ?= $(PREFIX)/lib/kefu/plugins
DATADIR ?= $(PREFIX)/share/kefu
SYSCONFDIR ?= /etc
RUNDIR ?= /run
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/kefu
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(PREFIX)/share/pkgconfig
# The vendor's directories for units and sysusers.d files (systemd looks
# under /usr/local/lib too); Debian 12 packages use /lib/systemd/system.
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DESTDIR ?=
B ?= build
# make run PLATFORM=wechat-kf: against the fake 微信客服 instead.
PLATFORM ?= kefu

CFLAGS ?= -O2 -g
# -Werror in a git checkout (developers, CI), not in a release's build.
WERROR ?= $(if $(wildcard .git),-Werror,)
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 $(WERROR)
ifeq ($(SAN),1)
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
endif
# make fuzz: clang's libFuzzer instruments the core as well.
ifeq ($(SAN),fuzz)
SANFLAGS = -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
endif
PKGS = libwebsockets libconfig libcjson sqlite3 libsystemd libssl libcrypto
KCFLAGS = -std=c11 -D_DEFAULT_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) \
	$(SANFLAGS) -Iinclude
# Plugins reach the core only through the host table: -z defs makes any
# other reference a link error, and the daemon exports nothing.
PLUGFLAGS = -std=c11 $(WARN) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -Iinclude \
	-fPIC -shared -fvisibility=hidden $(LDFLAGS) -Wl,-z,defs

# kefuctl is a client of its own; everything else in daemon/ is kefud.
DAEMON_SRC = $(filter-out daemon/kefuctl.c,$(wildcard daemon/*.c))
DAEMON_OBJ = $(DAEMON_SRC:%.c=$(B)/obj/%.o)
CORE_OBJ = $(filter-out $(B)/obj/daemon/main.o,$(DAEMON_OBJ))
PLUGINS = $(notdir $(wildcard plugins/*))
PLUGIN_SO = $(PLUGINS:%=$(B)/plugins/%.so)
# hello is an example for plugin writers: built and tested, not installed.
SHIPPED_SO = $(filter-out $(B)/plugins/hello.so,$(PLUGIN_SO))
UNITS = $(B)/systemd/kefud.service $(B)/systemd/kefud@.service
# What the shop edits (/etc/kefu) and the vendor's data (DATADIR), which
# an upgrade replaces; a file of the same name in /etc/kefu overrides it.
SHOP_CONF = kefud.conf platform.conf faq.conf synonyms.conf escalate.conf
VENDOR_DATA = holidays-cn.conf

TEST_SRC = $(wildcard tests/unit/*.c tests/integration/*.c)
TEST_BIN = $(patsubst %.c,$(B)/tests/%,$(notdir $(TEST_SRC)))
TEST_PLUGINS = good second badabi nodesc initfail versioned-1 versioned-2
TEST_SO = $(TEST_PLUGINS:%=$(B)/tests/plugins/%.so)

# Fuzz targets (tests/fuzz/): libFuzzer runs them (make fuzz); make check
# replays each saved corpus (corpus/, minimised by make fuzz) and each
# past finding (regress/) once through the same code.
FUZZ = frame conf norm guard kb answer escalate machine wxcrypt wxmsg
FUZZ_REPLAY = $(FUZZ:%=$(B)/fuzz/%-replay)
FUZZ_SECONDS ?= 60

FMT_SRC = $(wildcard daemon/*.[ch] include/kefu/*.h plugins/*/*.[ch] \
	tests/*.h tests/*/*.[ch])

.PHONY: all build check test format-check install uninstall clean deps run \
	bench eval fuzz fuzz-run deb check-deb FORCE

all: deps
	@$(MAKE) --no-print-directory build

deps:
	@./.ci/deps

# Benchmarks print figures; they assert nothing (see docs/performance.md).
bench: deps
	@$(MAKE) --no-print-directory build $(B)/bench/conv $(B)/bench/match
	$(B)/bench/conv 10000
	$(B)/bench/match $(abspath $(B)) 1000 20000
	/usr/bin/python3 tests/bench/link.py $(B)
	/usr/bin/python3 tests/bench/load.py $(B)
	/usr/bin/python3 tests/bench/wecom.py $(B)
	/usr/bin/python3 tests/bench/cost.py $(B)
	/usr/bin/python3 tests/bench/many.py $(B)

# The answers on the labelled set (tests/eval/): prints the figures.
eval: deps
	@$(MAKE) --no-print-directory build
	/usr/bin/python3 tests/eval/score.py $(B)

# Chat with kefud as a customer, against the sandbox platform.
run: deps
	@$(MAKE) --no-print-directory build
	@PLATFORM=$(PLATFORM) ./tests/sandbox/run.sh

build: $(B)/kefud $(B)/kefuctl $(PLUGIN_SO) $(UNITS)

check: deps
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory test
	@echo "== the whole suite again under AddressSanitizer + UBSan"
	@$(MAKE) --no-print-directory B=build/asan SAN=1 test
	@echo "== the Debian package: build, lintian, install, run, purge"
	@$(MAKE) --no-print-directory check-deb

# The Debian package (debian/), built from a copy of the tree so that the
# .deb lands in build/deb/ and the developer build stays as it is.
DEB_VERSION = $(shell dpkg-parsechangelog -S Version 2>/dev/null)
deb: deps
	@rm -rf --one-file-system build/deb && mkdir -p build/deb/src
	tar -c --exclude=./build --exclude=./.git . | tar -x -C build/deb/src
	cd build/deb/src && DEB_BUILD_OPTIONS=nocheck \
	    dpkg-buildpackage -b -us -uc --no-sign -j2
	@ls build/deb/*.deb

# Builds the package, lints it, installs it into a fresh root, checks and
# runs the installed kefud there against the sandbox, then purges it; then
# the same package under a real systemd, booted in a container.
check-deb: deb
	./tests/deb/check.sh build/deb
	./tests/deb/systemd.sh build/deb

format-check:
	clang-format --dry-run -Werror $(FMT_SRC)

# A sanitizer report in a Criterion worker does not fail its test: look
# for one in the output and fail the run.
test: build $(TEST_BIN) $(TEST_SO) $(FUZZ_REPLAY)
	@for t in $(TEST_BIN); do \
	    echo "== $$t"; $$t > $$t.out 2>&1; rc=$$?; cat $$t.out; \
	    [ $$rc -eq 0 ] || exit 1; \
	    if grep -q "Sanitizer\|runtime error:" $$t.out; then \
	        echo "$$t: sanitizer report above"; exit 1; fi; \
	done
	@for t in $(FUZZ); do \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp \
	    $(B)/fuzz/$$t-replay tests/fuzz/corpus/$$t \
	        $$(ls -d tests/fuzz/regress/$$t 2>/dev/null) > $(B)/fuzz/$$t.out 2>&1; \
	    rc=$$?; cat $(B)/fuzz/$$t.out; [ $$rc -eq 0 ] || exit 1; \
	    if grep -q "Sanitizer\|runtime error:" $(B)/fuzz/$$t.out; then \
	        echo "$$t: sanitizer report above"; exit 1; fi; \
	done
	/usr/bin/python3 tests/bench/load.py $(B) --smoke

# Each fuzz target for FUZZ_SECONDS, then its corpus minimised in place.
fuzz:
	@./.ci/deps fuzz
	@$(MAKE) --no-print-directory B=build/libfuzzer CC=clang SAN=fuzz fuzz-run

fuzz-run: $(FUZZ:%=$(B)/fuzz/%)
	@for t in $(FUZZ); do \
	    echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	    rm -rf $(B)/fuzz/new-$$t $(B)/fuzz/merged-$$t; \
	    mkdir -p tests/fuzz/corpus/$$t $(B)/fuzz/new-$$t $(B)/fuzz/merged-$$t; \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp \
	    $(B)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	        -print_final_stats=1 -artifact_prefix=$(B)/fuzz/$$t- \
	        $(B)/fuzz/new-$$t tests/fuzz/corpus/$$t > $(B)/fuzz/$$t.log 2>&1; \
	    rc=$$?; grep -E "^stat::(number_of_executed_units|new_units_added)|^SUMMARY" \
	        $(B)/fuzz/$$t.log; \
	    [ $$rc -eq 0 ] || { echo "$$t: a finding, see $(B)/fuzz/$$t.log"; exit 1; }; \
	    $(B)/fuzz/$$t -merge=1 $(B)/fuzz/merged-$$t tests/fuzz/corpus/$$t \
	        $(B)/fuzz/new-$$t > $(B)/fuzz/$$t-merge.log 2>&1 && \
	    rm -rf tests/fuzz/corpus/$$t && \
	    mv $(B)/fuzz/merged-$$t tests/fuzz/corpus/$$t && \
	    echo "corpus: $$(ls tests/fuzz/corpus/$$t | wc -l) inputs"; \
	done

# Installed paths compiled in; rewritten only when they change, so that
# `make install PREFIX=/usr` after a plain `make` rebuilds what uses them.
$(B)/paths.h: FORCE
	@mkdir -p $(B)
	@printf '/* $(SBINDIR) $(SYSCONFDIR) */\n#define KEFU_PLUGIN_DIR "%s"\n#define KEFU_DATA_DIR "%s"\n#define KEFU_CONF_FILE "%s"\n#define KEFU_RUN_DIR "%s"\n#define KEFU_CONTROL_SOCKET "%s"\n#define KEFU_VIEW_SOCKET "%s"\n' \
	    '$(PLUGINDIR)' '$(DATADIR)' '$(SYSCONFDIR)/kefu/kefud.conf' '$(RUNDIR)' '$(RUNDIR)/kefu/kefud.sock' '$(RUNDIR)/kefu-view/kefud/kefud.sock' > $@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

# Traditional -> simplified characters, from OpenCC's data in Debian's
# libopencc1.1, turned into text by opencc_dict (package opencc).
OPENCC_TS ?= /usr/share/opencc/TSCharacters.ocd2
$(B)/t2s.h: tools/gen-t2s.py
	@mkdir -p $(B)
	opencc_dict -i $(OPENCC_TS) -f ocd2 -t text -o $(B)/t2s.txt
	/usr/bin/python3 tools/gen-t2s.py $(B)/t2s.txt > $@.tmp && mv $@.tmp $@

$(B)/obj/daemon/norm.o: $(B)/t2s.h

$(B)/obj/%.o: %.c $(wildcard daemon/*.h include/kefu/*.h) $(B)/paths.h
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) -I$(B) $(shell pkg-config --cflags $(PKGS)) -c -o $@ $<

$(B)/kefud: $(DAEMON_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) $(SANFLAGS) -o $@ $(DAEMON_OBJ) \
	    $(shell pkg-config --libs $(PKGS)) -ldl -lm -pthread

$(B)/kefuctl: $(B)/obj/daemon/kefuctl.o
	$(CC) $(CFLAGS) $(LDFLAGS) $(SANFLAGS) -o $@ $< \
	    $(shell pkg-config --libs libcjson libconfig)

# One source, two units: kefud.service and the template kefud@.service.
$(B)/systemd/kefud.service: systemd/kefud.service.in $(B)/paths.h
	@mkdir -p $(dir $@)
	sed -e 's#@SBINDIR@#$(SBINDIR)#g' -e 's#@SYSCONFDIR@#$(SYSCONFDIR)#g' \
	    -e 's#@I@##g' -e 's#@DESC@##g' -e 's#@RT@#kefu#g' \
	    -e 's#@VIEW@#kefu-view/kefud#g' $< > $@

$(B)/systemd/kefud@.service: systemd/kefud.service.in $(B)/paths.h
	@mkdir -p $(dir $@)
	sed -e 's#@SBINDIR@#$(SBINDIR)#g' -e 's#@SYSCONFDIR@#$(SYSCONFDIR)#g' \
	    -e 's#@I@#/%i#g' -e 's#@DESC@# for %i#g' -e 's#@RT@#kefu@%i#g' \
	    -e 's#@VIEW@#kefu-view/kefud@%i#g' $< > $@

$(B)/plugins/%.so: plugins/%/*.c include/kefu/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGFLAGS) -o $@ $(filter %.c,$^) -lm

# Test plugins: one source, built with different descriptors.
$(B)/tests/plugins/good.so: TDEFS = -DPLUG_NAME='"good"'
$(B)/tests/plugins/second.so: TDEFS = -DPLUG_NAME='"second"'
$(B)/tests/plugins/badabi.so: TDEFS = -DPLUG_NAME='"badabi"' -DPLUG_ABI_MAJOR=99
$(B)/tests/plugins/nodesc.so: TDEFS = -DPLUG_NO_DESC
$(B)/tests/plugins/initfail.so: TDEFS = -DPLUG_NAME='"initfail"' -DPLUG_INIT_FAIL
$(B)/tests/plugins/versioned-1.so: TDEFS = -DPLUG_NAME='"versioned"' -DPLUG_VERSION='"1.0.0"'
$(B)/tests/plugins/versioned-2.so: TDEFS = -DPLUG_NAME='"versioned"' -DPLUG_VERSION='"2.0.0"'
$(B)/tests/plugins/%.so: tests/plugins/testplug.c include/kefu/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGFLAGS) $(TDEFS) -o $@ $<

vpath test_%.c tests/unit tests/integration
$(B)/tests/test_%: test_%.c tests/harness.h tests/sandbox.h tests/generation.h $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) -Idaemon -DKEFU_BUILD='"$(abspath $(B))"' \
	    -DKEFU_SRC='"$(CURDIR)"' $(shell pkg-config --cflags $(PKGS)) \
	    -o $@ $< $(CORE_OBJ) $(shell pkg-config --libs $(PKGS)) -ldl -lm -pthread \
	    -lcriterion

$(B)/fuzz/%-replay: tests/fuzz/%.c tests/fuzz/replay.c tests/fuzz/fuzz.h \
    $(CORE_OBJ) $(wildcard plugins/*/*.c)
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) -Idaemon -DKEFU_SRC='"$(CURDIR)"' \
	    $(shell pkg-config --cflags $(PKGS)) -o $@ $< tests/fuzz/replay.c \
	    $(CORE_OBJ) $(shell pkg-config --libs $(PKGS)) -ldl -lm -pthread

$(B)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(CORE_OBJ) $(wildcard plugins/*/*.c)
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) -fsanitize=fuzzer -Idaemon -DKEFU_SRC='"$(CURDIR)"' \
	    $(shell pkg-config --cflags $(PKGS)) -o $@ $< \
	    $(CORE_OBJ) $(shell pkg-config --libs $(PKGS)) -ldl -lm -pthread

$(B)/bench/%: tests/bench/%.c $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) -Idaemon $(shell pkg-config --cflags $(PKGS)) \
	    -o $@ $< $(CORE_OBJ) $(shell pkg-config --libs $(PKGS)) -ldl -lm -pthread

install: build
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PLUGINDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/kefu $(DESTDIR)$(DATADIR)/lang \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(DOCDIR)/zh-CN $(DESTDIR)$(DOCDIR)/examples \
	    $(DESTDIR)$(INCLUDEDIR)/kefu $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(B)/kefud $(DESTDIR)$(SBINDIR)/kefud
	install -m 755 $(B)/kefuctl $(DESTDIR)$(SBINDIR)/kefuctl
	install -m 644 $(SHIPPED_SO) $(DESTDIR)$(PLUGINDIR)/
	install -m 644 $(UNITS) $(DESTDIR)$(UNITDIR)/
	install -m 644 systemd/kefu.sysusers $(DESTDIR)$(SYSUSERSDIR)/kefu.conf
	install -m 644 systemd/kefu.tmpfiles $(DESTDIR)$(TMPFILESDIR)/kefu.conf
	install -m 644 man/kefud.8 man/kefuctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 man/kefud.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 etc/kefu/lang/* $(DESTDIR)$(DATADIR)/lang/
	install -m 644 $(VENDOR_DATA:%=etc/kefu/%) $(DESTDIR)$(DATADIR)/
	for f in $(SHOP_CONF); do \
	    test -e $(DESTDIR)$(SYSCONFDIR)/kefu/$$f || install -m 644 \
	        etc/kefu/$$f $(DESTDIR)$(SYSCONFDIR)/kefu/$$f; \
	done
	install -m 644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	install -m 644 docs/zh-CN/*.md $(DESTDIR)$(DOCDIR)/zh-CN/
	cp -R etc/kefu/examples/. plugins/hello $(DESTDIR)$(DOCDIR)/examples/
	install -m 644 include/kefu/plugin.h $(DESTDIR)$(INCLUDEDIR)/kefu/
	printf 'includedir=%s\nplugindir=%s\n\nName: kefu-plugin\nDescription: the plugin ABI of kefud\nVersion: %s\nCflags: -I$${includedir}\n' \
	    '$(INCLUDEDIR)' '$(PLUGINDIR)' '$(VERSION)' \
	    > $(DESTDIR)$(PKGCONFIGDIR)/kefu-plugin.pc

# Leaves /etc/kefu (the shop's) and the state (/var/lib/kefu) alone.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/kefud $(DESTDIR)$(SBINDIR)/kefuctl \
	    $(DESTDIR)$(UNITDIR)/kefud.service $(DESTDIR)$(UNITDIR)/kefud@.service \
	    $(DESTDIR)$(SYSUSERSDIR)/kefu.conf $(DESTDIR)$(TMPFILESDIR)/kefu.conf \
	    $(DESTDIR)$(MANDIR)/man8/kefud.8 $(DESTDIR)$(MANDIR)/man8/kefuctl.8 \
	    $(DESTDIR)$(MANDIR)/man5/kefud.conf.5 \
	    $(DESTDIR)$(INCLUDEDIR)/kefu/plugin.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/kefu-plugin.pc
	rm -rf $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	-rmdir $(DESTDIR)$(INCLUDEDIR)/kefu $(dir $(DESTDIR)$(PLUGINDIR))

clean:
	rm -rf build
