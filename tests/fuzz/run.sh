#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang, ASan and
# UBSan into build-fuzz/, then runs each for FUZZ_SECONDS (default 20) on a
# copy of its seed corpus (tests/fuzz/corpus/NAME/). Exits non-zero if a
# target does not build or finds a crash; the crashing input is kept as
# build-fuzz/artifacts/NAME-crash-*.
#
#   sh tests/fuzz/run.sh                 build and run every target
#   sh tests/fuzz/run.sh sse config      only these targets
#   FUZZ_SECONDS=300 sh tests/fuzz/run.sh
#   FUZZ_BUILD_ONLY=1 sh tests/fuzz/run.sh
#
# Environment: FUZZ_CC (default clang), FUZZ_SECONDS, FUZZ_JOBS (parallel
# compiles, default 4), FUZZ_ARGS (extra libFuzzer flags), FUZZ_BUILD_ONLY.
set -u

cd "$(dirname "$0")/../.." || exit 1
CC=${FUZZ_CC:-clang}
SECONDS_EACH=${FUZZ_SECONDS:-20}
JOBS=${FUZZ_JOBS:-4}
OUT=build-fuzz
PKGS="sqlite3 libmicrohttpd libcurl openssl libcjson libsodium yaml-0.1 readline libpcre2-8"
VERSION=$(cat VERSION 2>/dev/null || echo 0.1.0)

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz: $CC not found (libFuzzer needs clang and its runtime)" >&2
    exit 1
fi

# the embedded schema and default config, and the tokenizer's rank tables
# (fetched and checked by scripts/fetch-tokenizer-data.sh), as the Makefile
# generates them
GEN="build/gen/schema_gen.c build/gen/default_config_gen.c build/gen/tokenizer_data_gen.c"
# shellcheck disable=SC2086
${MAKE:-make} --no-print-directory -s $GEN || exit 1

PKGCFLAGS=$(pkg-config --cflags $PKGS) || exit 1
PKGLIBS=$(pkg-config --libs $PKGS) || exit 1
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-g -O1 -std=gnu11 -pthread -D_GNU_SOURCE -I. -Icommon -Igatewayd $PKGCFLAGS -DGW_VERSION=\"$VERSION\""

# Project sources: everything but the daemon's main(). Compiled once with the
# fuzzer's coverage instrumentation, then linked into every target.
SRCS=$(ls common/*.c gatewayd/*.c gatewayd/stages/*.c gatewayd/providers/*.c |
    grep -v '^gatewayd/main\.c$')
SRCS="$SRCS $GEN"

mkdir -p "$OUT/obj" "$OUT/artifacts" "$OUT/corpus"
objs=""
pids=""
running=0
failed_build=0
for src in $SRCS; do
    obj="$OUT/obj/$(echo "$src" | sed 's#/#_#g; s#\.c$#.o#')"
    objs="$objs $obj"
    if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ "$obj" -nt "$0" ] &&
        [ -z "$(find common gatewayd -name '*.h' -newer "$obj" | head -n 1)" ]; then
        continue
    fi
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer-no-link $SAN -c "$src" -o "$obj" &
    pids="$pids $!"
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        for p in $pids; do wait "$p" || failed_build=1; done
        pids=""
        running=0
    fi
done
for p in $pids; do wait "$p" || failed_build=1; done
if [ "$failed_build" -ne 0 ]; then
    echo "fuzz: building the project sources failed" >&2
    exit 1
fi

if [ "$#" -gt 0 ]; then
    targets="$*"
else
    targets=$(ls tests/fuzz/fuzz_*.c | sed 's#.*/fuzz_##; s#\.c$##')
fi

for t in $targets; do
    echo "fuzz: building fuzz_$t"
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer $SAN -o "$OUT/fuzz_$t" "tests/fuzz/fuzz_$t.c" $objs \
        $PKGLIBS -lm || { echo "fuzz: fuzz_$t does not build" >&2; exit 1; }
done
[ -n "${FUZZ_BUILD_ONLY:-}" ] && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=""
for t in $targets; do
    corpus="$OUT/corpus/$t"
    rm -rf "$corpus"
    mkdir -p "$corpus"
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null
    fi
    echo "fuzz: running fuzz_$t for ${SECONDS_EACH}s"
    log="$OUT/fuzz_$t.log"
    # stdin from /dev/null: a config naming file:/dev/stdin must not block
    # shellcheck disable=SC2086
    "$OUT/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$t-" ${FUZZ_ARGS:-} "$corpus" \
        </dev/null >"$log" 2>&1
    rc=$?
    tail -n 12 "$log" | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' |
        sed "s#^#fuzz: $t: #"
    if [ "$rc" -ne 0 ]; then
        echo "fuzz: fuzz_$t FAILED (exit $rc); log: $log" >&2
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 10 >&2
        failed="$failed $t"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz: crashes found in:$failed" >&2
    exit 1
fi
echo "fuzz: all targets ran ${SECONDS_EACH}s without a crash"
