# sanitizers.sh: ASan/UBSan reports of every instrumented process a test starts (the mount, a server in the
# background whose stderr nobody reads, supervisors) are written to files in one folder; any file there
# fails the test that was running and is printed. Programs built without sanitizers ignore the settings.

# san_setup: a fresh folder for the reports, and the sanitizers told to write there (after any options
# already given, so halt_on_error and the like still hold).
san_setup() {
    SAN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/amlfs-san.XXXXXX") || return 1
    chmod 1777 "$SAN_DIR" # tests run some programs as another user
    mkdir -p "$SAN_DIR/seen"
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$SAN_DIR/asan"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$SAN_DIR/ubsan"
}

# san_reports NAME: 1, with each report printed, when reports were written since the last call (they are
# then kept aside in $SAN_DIR/seen, so the next test is not blamed for them).
san_reports() {
    local f found=0
    for f in "$SAN_DIR"/asan.* "$SAN_DIR"/ubsan.*; do
        [ -f "$f" ] || continue
        [ "$found" = 1 ] || echo "FAIL $1: sanitizer reports (kept in $SAN_DIR/seen)"
        found=1
        echo "    == $(basename "$f")"
        head -n 60 "$f" | sed 's/^/    /'
        mv "$f" "$SAN_DIR/seen/"
    done
    [ "$found" = 0 ]
}

# san_done: the folder removed when nothing was ever reported, else kept for reading.
san_done() {
    rmdir "$SAN_DIR/seen" 2>/dev/null && rmdir "$SAN_DIR" 2>/dev/null
    return 0
}
