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
LDLIBS  += -lpthread

LAYERS      := util data spec api metrics store compute env snapshot server client fs
LIB_SRCS    := $(filter-out %/main_server.c %/main_amlfs.c,$(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c)))
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps deps-check run test bench demo demo-image clean asan asan-test
# Keep every object (test objects are intermediates): nothing is deleted, and nothing is printed
# after the closing line of the tests.
.SECONDARY:
all: deps-check $(BUILD)/amlfs-server $(BUILD)/amlfs $(UNIT_BINS) $(BUILD)/tests/check_blob

# deps: install missing Debian packages (as root), or say exactly what to install.
deps:
	@scripts/deps.sh

deps-check:
	@pkg-config --exists $(PKGS) || scripts/deps.sh

$(BUILD)/%.o: %.c $(wildcard include/amlfs/*.h src/*/*.h tests/unit/*.h)
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

# Checks of the blob client against a live Blob service (Azurite): run by tests/e2e/test_blob_client.sh,
# not with the unit tests (those need no service).
$(BUILD)/tests/check_blob: $(BUILD)/tests/blob/check_blob.o $(BUILD)/libamlfs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(PKGS)) $(LDLIBS)

# Scale measures of the metrics store (not tests: nothing fails on a slow machine).
$(BUILD)/tests/bench_metrics: $(BUILD)/tests/bench/bench_metrics.o $(BUILD)/libamlfs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(PKGS)) $(LDLIBS)

bench: deps-check $(BUILD)/tests/bench_metrics
	@$(BUILD)/tests/bench_metrics

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

clean:
	rm -rf build build-asan
