# vlocr — one Makefile for the library, the tool, the tests and the benches.
#
#   make            libvlocr.a + build/vlocr  (IEEE-safe: -O2, no fast-math)
#   make FAST=1     same with -O3 -march=native (not portable to other CPUs)
#   make deps       install the Debian packages the build and tests need
#   make test       deps + build + every test, unit tests again under ASan+UBSan
#   make run        deps + build + the main job on samples/ into out/
#   make bench      the benchmarks in bench/ (results go to bench/RESULTS.md by hand)

CC      ?= cc
BUILD   ?= build
PKGS    := lept openblas cairo pangocairo jansson libpcre2-8 poppler-glib zlib libpng libjpeg

# Debian packages behind PKGS, plus what the tests use.
DEB_PKGS := build-essential pkg-config libleptonica-dev libopenblas-dev \
            libcairo2-dev libpango1.0-dev libjansson-dev libpcre2-dev \
            libpoppler-glib-dev libpng-dev libjpeg62-turbo-dev libtiff-dev \
            libwebp-dev libgif-dev zlib1g-dev fonts-dejavu-core

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN   := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wformat=2 -Wno-unused-parameter -Wvla \
          -Wpointer-arith -Wcast-qual -Wno-format-truncation -Werror
OPT    := -O2 -fno-fast-math
ifeq ($(FAST),1)
OPT    := -O3 -march=native -fno-fast-math
BUILD  := build-fast
endif
CFLAGS_ALL := -std=c11 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 -g $(OPT) \
              -fopenmp $(WARN) -MMD -MP -I. $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -fopenmp -lm -lpthread $(LDLIBS)

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
             -fno-omit-frame-pointer

LIB_SRC  := $(sort $(wildcard core/*.c vision/*.c language/*.c pipeline/*.c train/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_SUP := $(sort $(wildcard tests/support/*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
SUP_OBJ  := $(TEST_SUP:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN:= $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

SAN_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/san/%.o)
SAN_SUP_OBJ := $(TEST_SUP:%.c=$(BUILD)/san/%.o)
SAN_TEST_BIN:= $(TEST_SRC:tests/%.c=$(BUILD)/san-tests/%)

LIB := $(BUILD)/libvlocr.a
BIN := $(BUILD)/vlocr

.PHONY: all deps test unit-test san-test cli-test run bench clean check-pkgs
.DEFAULT_GOAL := all

all: check-pkgs $(LIB) $(BIN)

check-pkgs:
	@pkg-config --exists $(PKGS) || { echo "missing libraries: run 'make deps' (needs Debian packages: $(DEB_PKGS))"; \
	  for p in $(PKGS); do pkg-config --exists $$p || echo "  pkg-config: $$p not found"; done; exit 1; }

# Install only what is missing; sudo when not root; no network when all present.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	echo "deps: installing$$missing"; \
	SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing || \
	{ $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; }

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	@echo "AR $@"
	@ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	@echo "LD $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS_ALL)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(@D)
	@echo "CC [asan+ubsan] $<"
	@$(CC) $(CFLAGS_ALL) -O1 $(SAN_FLAGS) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(SUP_OBJ) $(LIB)
	@mkdir -p $(@D)
	@echo "LD $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $< $(SUP_OBJ) $(LIB) $(LDLIBS_ALL)

$(BUILD)/san-tests/%: $(BUILD)/san/tests/%.o $(SAN_SUP_OBJ) $(SAN_LIB_OBJ)
	@mkdir -p $(@D)
	@echo "LD [asan+ubsan] $@"
	@$(CC) $(CFLAGS_ALL) $(SAN_FLAGS) -o $@ $< $(SAN_SUP_OBJ) $(SAN_LIB_OBJ) $(LDLIBS_ALL)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(@D)
	@echo "LD $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB) $(LDLIBS_ALL)

# Tests run from the repository root; each prints "N passed, N failed" and
# exits non-zero on failure. The runner stops at the first failing binary
# only after running them all, so one report shows every failure.
test: deps
	$(MAKE) all
	$(MAKE) unit-test
	$(MAKE) san-test
	$(MAKE) cli-test
	@echo "make test: all suites passed"

unit-test: $(TEST_BIN)
	@sh tests/run_all.sh $(TEST_BIN)

san-test: $(SAN_TEST_BIN)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	 LSAN_OPTIONS=suppressions=tests/lsan.supp:print_suppressions=0 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 OPENBLAS_NUM_THREADS=1 VLOCR_SANITIZED=1 sh tests/run_all.sh $(SAN_TEST_BIN)

cli-test: $(BIN)
	@sh tests/cli_test.sh $(BIN)

run: deps
	$(MAKE) all
	sh samples/run.sh $(BIN) out

bench: all $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf build build-fast out

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SUP_OBJ:.o=.d) \
         $(TEST_SRC:%.c=$(BUILD)/obj/%.d) $(SAN_LIB_OBJ:.o=.d) \
         $(TEST_SRC:%.c=$(BUILD)/san/%.d) $(BENCH_SRC:%.c=$(BUILD)/obj/%.d)

# Training-time targets (synthetic data, trainer) live beside their code.
-include train/train.mk
