#!/usr/bin/env bash
# test_sanitizer_reports.sh: tests/run.sh's net for sanitizer reports (tests/lib/sanitizers.sh): a report
# of a program in the background, whose stderr nobody reads, fails the test instead of passing silently.
. "$(dirname "$0")/../lib/e2e.sh"
. "$ROOT/tests/lib/sanitizers.sh"

t_a_report_of_a_background_program_fails_and_is_printed() {
    printf '#include <stdlib.h>\nint main(void) { char *p = malloc(8); free(p); return p[1]; }\n' > "$T/uaf.c"
    cc -g -fsanitize=address,undefined -o "$T/uaf" "$T/uaf.c" 2>"$T/cc.err" || fail "cc: $(cat "$T/cc.err")"
    printf 'int main(void) { return 0; }\n' > "$T/clean.c"
    cc -fsanitize=address,undefined -o "$T/clean" "$T/clean.c" || fail "cc clean"
    san_setup || fail "san_setup"
    "$T/clean" >/dev/null 2>&1
    san_reports "clean" > "$T/clean.out" || fail "a clean program was reported: $(cat "$T/clean.out")"
    "$T/uaf" >/dev/null 2>&1 &
    spawned $!
    wait $!
    san_reports "a test" > "$T/report.out" && fail "a report went unnoticed"
    grep -q "^FAIL a test: sanitizer reports" "$T/report.out" && grep -q "heap-use-after-free" "$T/report.out" ||
        fail "not printed: $(cat "$T/report.out")"
    san_reports "the next test" > "$T/next.out" || fail "the next test was blamed: $(cat "$T/next.out")"
    rm -rf "$SAN_DIR"
}

run_cases
