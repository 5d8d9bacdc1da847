# flagtrail: a plain GNU Makefile. Read top to bottom; docs/ARCHITECTURE.md explains the choices.
#
#   make                 library (static and shared) and the flagtrail binary
#   make run             start the receiver on 127.0.0.1:8080 (ARGS="..." for more options)
#   make test            unit, integration and fuzz-corpus tests; ends with "N passed, N failed"
#   make SANITIZE=address,undefined test     the same under ASan and UBSan
#   make bench           benchmarks with their peers; results in bench/results/
#   make fuzz            libFuzzer drivers, FUZZ_SECONDS each (default 60)
#   make install         PREFIX=/usr/local: binary, headers, libraries, flagtrail.pc
#   make format          clang-format every C file in place
#
# Every target but clean and format first runs scripts/bootstrap (Debian packages).

PREFIX    ?= /usr/local
CC        ?= cc
PYTHON    ?= /usr/bin/python3
SANITIZE  ?=
FUZZ_SECONDS ?= 60
VERSION   := $(shell sed -n 's/^#define FT_VERSION "\(.*\)"/\1/p' include/flagtrail/version.h)

ifeq ($(SANITIZE),)
BUILD     ?= build/release
OPT       ?= -O2 -g
else
BUILD     ?= build/sanitize
OPT       ?= -O1 -g -fno-omit-frame-pointer
SANFLAGS  := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
endif

# Packages found through pkg-config (recursive variables: evaluated after bootstrap ran).
# LIB_PKGS serve libflagtrail (the public library); the program needs PKGS.
LIB_PKGS   = libcrypto libpcre2-8
PKGS       = $(LIB_PKGS) sqlite3 libpq libmicrohttpd libcurl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion \
        -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wundef -Wvla -Werror
CFLAGS_ALL  = -std=c11 -D_GNU_SOURCE -fPIC $(OPT) $(SANFLAGS) $(WARN) -Iinclude -Isrc \
              $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)
LIBS_ALL    = $(PKG_LIBS) -lpthread -lm

# --- sources ---

# libflagtrail holds the public modules (include/flagtrail/); the servers, stores and the CLI
# build on it through an internal archive that is never installed.
LIB_DIRS  := src/base src/webhook src/engine
LIB_SRCS  := $(sort $(wildcard $(addsuffix /*.c,$(LIB_DIRS))))
APP_SRCS  := $(sort $(filter-out $(LIB_SRCS) src/cli/%,$(wildcard src/*/*.c)))
CLI_SRCS  := $(sort $(wildcard src/cli/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
APP_OBJS  := $(APP_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/%.o)
LIB_A     := $(BUILD)/libflagtrail.a
LIB_SO    := $(BUILD)/libflagtrail.so
APP_A     := $(BUILD)/libflagtrail-app.a
LINK_A    := $(APP_A) $(LIB_A)
BIN       := $(BUILD)/flagtrail

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRCS:fuzz/fuzz_%.c=%)
REGRESS_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/regress_%)
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all run test unit integration bench bench-bins fuzz install format clean bootstrap conformance
.DEFAULT_GOAL := all

# --- bootstrap: included as a makefile so it runs before anything is built ---

ifeq ($(filter clean format,$(MAKECMDGOALS)),)
include build/bootstrap.mk
endif

build/bootstrap.mk: scripts/bootstrap
	@bash scripts/bootstrap
	@mkdir -p build && echo "# scripts/bootstrap ran" > $@

bootstrap:
	@bash scripts/bootstrap

# --- library and program ---

all: $(LIB_A) $(LIB_SO) $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(APP_A): $(APP_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libflagtrail.so.0 $(LDFLAGS_ALL) -o $@ $^ \
	    $(shell pkg-config --libs $(LIB_PKGS)) -lpthread -lm

$(BIN): $(CLI_OBJS) $(LINK_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJS) $(LINK_A) $(LIBS_ALL)

run: $(BIN)
	@bash scripts/run $(BIN) $(ARGS)

# --- tests ---

TEST_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(OPT) $(SANFLAGS) -Wall -Wextra -Werror -Iinclude -Isrc \
              $(PKG_CFLAGS) $(shell pkg-config --cflags criterion) -MMD -MP $(CFLAGS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LINK_A)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(LINK_A) $(LDFLAGS_ALL) $(shell pkg-config --libs criterion) \
	    $(LIBS_ALL)

$(BUILD)/tests/tools/%: tests/tools/%.c $(LINK_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LINK_A) $(LDFLAGS_ALL) $(LIBS_ALL)

# Each fuzz driver also builds with a plain main that replays its corpus: a regression test.
$(BUILD)/fuzz/regress_%: fuzz/fuzz_%.c fuzz/regress_main.c $(LINK_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< fuzz/regress_main.c $(LINK_A) $(LDFLAGS_ALL) \
	    $(shell pkg-config --libs libcjson) $(LIBS_ALL)

# the benchmarks are built too (not run), so a change that breaks one fails here
test: all $(UNIT_BINS) $(TOOL_BINS) $(REGRESS_BINS) $(BENCH_BINS)
	@BUILD=$(BUILD) PYTHON=$(PYTHON) SANITIZE=$(SANITIZE) bash scripts/run-tests

unit: $(UNIT_BINS)
	@BUILD=$(BUILD) PYTHON=$(PYTHON) bash scripts/run-tests unit

integration: all $(TOOL_BINS)
	@BUILD=$(BUILD) PYTHON=$(PYTHON) bash scripts/run-tests integration

# --- conformance: every case of Flagsmith's engine test data (docs/engine.md) ---

CONF_BIN := $(BUILD)/tests/conformance/conformance

$(CONF_BIN): tests/conformance/conformance.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB_A) $(LDFLAGS_ALL) $(LIBS_ALL)

test: $(CONF_BIN)

conformance: $(CONF_BIN)
	@BUILD=$(BUILD) PYTHON=$(PYTHON) bash scripts/run-tests conformance

-include $(CONF_BIN).d

# --- benchmarks ---

$(BUILD)/bench/%: bench/%.c $(LINK_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -O3 -o $@ $< $(LINK_A) $(LDFLAGS_ALL) $(shell pkg-config --libs libcjson) \
	    $(LIBS_ALL)

bench: bench-bins
	@BUILD=$(BUILD) PYTHON=$(PYTHON) bash bench/run

bench-bins: all $(BENCH_BINS)

# --- fuzzing (clang + libFuzzer, its own build of the library) ---

FUZZ_BUILD := build/fuzz
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc $(PKG_CFLAGS)
FUZZ_SAN    = address,undefined
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o) $(APP_SRCS:%.c=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_LIB_OBJS)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $< $(FUZZ_LIB_OBJS) \
	    $(shell pkg-config --libs libcjson) $(LIBS_ALL)

fuzz: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/run-fuzz $(FUZZ_NAMES)


# --- install ---

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/flagtrail \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/flagtrail
	install -m 644 include/flagtrail/*.h $(DESTDIR)$(PREFIX)/include/flagtrail/
	install -d $(DESTDIR)$(PREFIX)/share/flagtrail
	install -m 644 tests/data/engine/v1/environment_n9fbf9h3v4fFgH3U3ngWhb.json \
	    $(DESTDIR)$(PREFIX)/share/flagtrail/demo-environment.json
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/libflagtrail.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libflagtrail.so.$(VERSION)
	ln -sf libflagtrail.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libflagtrail.so.0
	ln -sf libflagtrail.so.0 $(DESTDIR)$(PREFIX)/lib/libflagtrail.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@REQUIRES@|$(LIB_PKGS)|g' \
	    flagtrail.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/flagtrail.pc

# --- housekeeping ---

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(APP_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(UNIT_BINS:=.d) $(TOOL_BINS:=.d)
