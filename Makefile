# amlfs: build, run, test. `make run` mounts a workspace on ./mnt-example; `make test` runs every test.
# Each src/ folder is one layer; every .c in it is compiled. Programs are in src/*/main_*.c.

CC      ?= cc
PKGS    := fuse3 libcurl libcjson libarchive yaml-0.1 libmicrohttpd sqlite3 libcrypto libxml-2.0
BUILD   ?= build
SAN     ?=
CFLAGS  ?= -O2 -g
# Our flags live apart from CFLAGS so `make CFLAGS=...` (and `make asan`) can change optimisation only.
AMLFS_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude $(SAN)
LDFLAGS += $(SAN)
LDLIBS  += -lpthread -lm

LAYERS      := util data spec api metrics store compute env snapshot chart server client fs
LIB_SRCS    := $(filter-out %/main_server.c %/main_amlfs.c,$(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c)))
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Each fuzz target is also a unit program that replays its corpus (tests/fuzz/corpus/NAME).
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAYS := $(FUZZ_NAMES:%=$(BUILD)/tests/test_fuzz_%)
FUZZ_SECONDS ?= 20
FUZZ_CC ?= clang

# Where `make install` puts things (DESTDIR prefixes every path, for packaging and tests).
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALLED := $(BINDIR)/amlfs $(BINDIR)/amlfs-server $(MANDIR)/man1/amlfs.1 $(MANDIR)/man8/amlfs-server.8 \
             $(UNITDIR)/amlfs-server.service

.PHONY: all deps deps-check run test demo demo-image clean asan asan-test install uninstall fuzz bench stress
# Keep every object (test objects are intermediates): nothing is deleted, and nothing is printed
# after the closing line of the tests.
.SECONDARY:
FS_CHECKS   := $(patsubst tests/fs/%.c,$(BUILD)/tests/fs/%,$(wildcard tests/fs/*.c))
all: deps-check $(BUILD)/amlfs-server $(BUILD)/amlfs $(UNIT_BINS) $(FUZZ_REPLAYS) $(BUILD)/tests/check_blob \
     $(BUILD)/tests/chart_samples $(FS_CHECKS)

# deps: install missing Debian packages (as root), or say exactly what to install.
deps:
	@scripts/deps.sh

# deps-check: only what building needs (make install on a server needs no editors, podman or Slurm);
# `make test` and `make run` go through deps, which adds the test tools.
deps-check:
	@pkg-config --exists $(PKGS) || scripts/deps.sh --build-only

# Order-only on deps-check: with make -j a first build on a fresh machine compiles only after the
# -dev packages are there.
$(BUILD)/%.o: %.c $(wildcard include/amlfs/*.h src/*/*.h tests/unit/*.h) | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(AMLFS_CFLAGS) $(shell pkg-config --cflags $(PKGS)) -c -o $@ $<

$(BUILD)/libamlfs.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/amlfs-server: $(BUILD)/src/server/main_server.o $(BUILD)/libamlfs.a
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(PKGS)) $(LDLIBS)

$(BUILD)/amlfs: $(BUILD)/src/fs/main_amlfs.o $(BUILD)/libamlfs.a
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(PKGS)) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libamlfs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(PKGS)) $(LDLIBS)

$(BUILD)/tests/fuzz/replay_%.o: tests/fuzz/replay.c $(wildcard include/amlfs/*.h tests/fuzz/*.h) | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(AMLFS_CFLAGS) -DFUZZ_CORPUS='"tests/fuzz/corpus/$*"' $(shell pkg-config --cflags $(PKGS)) -c -o $@ $<

$(BUILD)/tests/test_fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay_%.o $(BUILD)/libamlfs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(PKGS)) $(LDLIBS)

# The long fault and load checks (kill -9 loop, many shells, idle connections) with printed bounds, on
# loopback, stopping by themselves: not part of `make test`.
stress: deps all
	@scripts/stress.sh

# Fuzzing with clang's libFuzzer (ASan + UBSan), FUZZ_SECONDS per target; not part of `make test`, which
# replays the corpora. A crash is saved under build-fuzz/crashes/NAME/: add it to tests/fuzz/corpus/NAME.
fuzz: deps-check
	@[ "$(FUZZ_CC)" != clang ] || scripts/deps.sh --fuzz
	$(MAKE) -j$$(nproc) BUILD=build-fuzz CC=$(FUZZ_CC) CFLAGS="-O1 -g" \
	    SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" build-fuzz/libamlfs.a
	@FUZZ_CC=$(FUZZ_CC) scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) "$(shell pkg-config --libs $(PKGS)) $(LDLIBS)"

# Checks of the blob client against a live Blob service (Azurite): run by tests/e2e/test_blob_client.sh,
# not with the unit tests (those need no service).
$(BUILD)/tests/check_blob: $(BUILD)/tests/blob/check_blob.o $(BUILD)/libamlfs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(PKGS)) $(LDLIBS)

# Sample charts and a comparison table to look at after changing src/chart/: chart_samples DIR.
$(BUILD)/tests/chart_samples: $(BUILD)/tests/chart/chart_samples.o $(BUILD)/libamlfs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(PKGS)) $(LDLIBS)

# File system checkers run on a mount by tests/e2e/test_semantics.sh (plain POSIX programs, no library).
$(BUILD)/tests/fs/%: tests/fs/%.c | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(AMLFS_CFLAGS) $(LDFLAGS) -o $@ $<

# Scale measures of the metrics store (not tests: nothing fails on a slow machine).
$(BUILD)/tests/bench_metrics: $(BUILD)/tests/bench/bench_metrics.o $(BUILD)/libamlfs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(PKGS)) $(LDLIBS)

# The measuring harness (issue 12): one table, the same as JSON in results/ (git ignores it). Not a test:
# goals are judged in its table only. scripts/bench.sh says which knobs scale it down.
bench: deps-check
	@$(MAKE) --no-print-directory -j$(shell nproc) $(BUILD)/amlfs-server $(BUILD)/amlfs $(BUILD)/tests/bench_metrics
	@BUILD=$(BUILD) scripts/bench.sh

run: deps all
	@scripts/run.sh

test: deps all
	@tests/run.sh

demo: deps all
	@scripts/demo.sh

# Opt-in, not part of `make test`: a Debian image built from a Dockerfile (debootstrap base, ~2 min
# the first time), the digits training run inside it.
demo-image: deps all
	@scripts/demo_image.sh

# ASan/UBSan build in its own folder: make asan && BUILD=build-asan tests/run.sh
asan:
	$(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" CFLAGS="-O1 -g" all

# Every test on the ASan/UBSan build; undefined behaviour stops the program like a memory error does.
asan-test: deps asan
	@UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 BUILD=build-asan tests/run.sh

# Both programs, their manual pages and the systemd unit (its ExecStart names the installed server).
# Builds the two programs only: no test programs, no test packages.
install: $(BUILD)/amlfs $(BUILD)/amlfs-server
	install -D -m 0755 $(BUILD)/amlfs $(DESTDIR)$(BINDIR)/amlfs
	install -D -m 0755 $(BUILD)/amlfs-server $(DESTDIR)$(BINDIR)/amlfs-server
	install -D -m 0644 man/amlfs.1 $(DESTDIR)$(MANDIR)/man1/amlfs.1
	install -D -m 0644 man/amlfs-server.8 $(DESTDIR)$(MANDIR)/man8/amlfs-server.8
	@mkdir -p $(DESTDIR)$(UNITDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' dist/amlfs-server.service > $(DESTDIR)$(UNITDIR)/amlfs-server.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/amlfs-server.service

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

clean:
	rm -rf build build-asan build-fuzz
