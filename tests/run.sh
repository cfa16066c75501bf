#!/bin/sh
# Runs every test tier against the binaries in $BUILD (build, or build-san for
# the sanitizer run): the cmocka unit tests, then the pytest integration
# tests (real gatewayd, real sockets, the C mock upstream, the openai SDK).
# Prints one closing line "tests: N passed, M failed" and fails if M > 0.
BUILD=${BUILD:-build}
export BUILD
passed=0
failed=0
if [ "$BUILD" = build-san ]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ] && [ -z "$f" ]; then
        echo "unit: $t exited with $rc"
        failed=$((failed + 1))
    fi
done

log=$(mktemp)
/usr/bin/python3 -m pytest -q -rfE -p no:cacheprovider tests/integration 2>&1 | tee "$log"
p=$(tail -n 3 "$log" | grep -o '[0-9]* passed' | grep -o '[0-9]*')
f=$(tail -n 3 "$log" | grep -o '[0-9]* failed' | grep -o '[0-9]*')
e=$(tail -n 3 "$log" | grep -o '[0-9]* error' | grep -o '[0-9]*')
if [ -z "$p$f$e" ]; then
    echo "integration: pytest produced no result"
    failed=$((failed + 1))
fi
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0} + ${e:-0}))
rm -f "$log"

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
