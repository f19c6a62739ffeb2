#!/usr/bin/env bash
# run.sh: every test of amlfs: unit test programs, then end-to-end scripts on real mounts.
# Prints each result and ends with one line "N passed, N failed" (", N skipped" when a test file skipped
# cases, with its reason printed above); exit 1 if any failed. A sanitizer report from any process a test
# started (see tests/lib/sanitizers.sh) fails that test, even one from a server in the background.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BUILD=${BUILD:-$ROOT/build}
cd "$ROOT" || exit 1

passed=0
failed=0
skipped=0
# shellcheck source-path=SCRIPTDIR source=lib/sanitizers.sh
. tests/lib/sanitizers.sh
san_setup || exit 1
tally() { # reads a program's output, echoes it, adds its closing "N passed, N failed" line
    local line p f
    line=$(tail -n 1 "$1")
    grep -v -E '^[0-9]+ passed, [0-9]+ failed' "$1"
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]; then
        p=${BASH_REMATCH[1]}
        f=${BASH_REMATCH[2]}
        skipped=$((skipped + ${BASH_REMATCH[4]:-0}))
    else
        p=0
        f=1
        echo "FAIL $2: ended without a result line"
    fi
    [ "$3" -ne 0 ] && [ "$f" -eq 0 ] && { f=1; echo "FAIL $2: exit status $3"; }
    passed=$((passed + p))
    failed=$((failed + f))
}

out=$(mktemp)
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    timeout 300 "$t" > "$out" 2>&1
    rc=$?
    echo "== $name"
    tally "$out" "$name" $rc
    san_reports "$name" || failed=$((failed + 1))
done
for t in tests/e2e/*.sh; do
    [ -n "${ONLY:-}" ] && [[ $t != *"$ONLY"* ]] && continue
    echo "== $(basename "$t")"
    timeout 600 bash "$t" > "$out" 2>&1
    rc=$?
    tally "$out" "$(basename "$t")" $rc
    san_reports "$(basename "$t")" || failed=$((failed + 1))
done
rm -f "$out"
# A process still running wrote its report (at exit: leaks) after its test was counted.
san_reports "processes that outlived their test" || failed=$((failed + 1))
san_done
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
