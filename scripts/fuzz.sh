#!/usr/bin/env bash
# fuzz.sh BUILD SECONDS LIBS: links each tests/fuzz/fuzz_NAME.c with libFuzzer against BUILD/libamlfs.a and
# runs it for SECONDS on its corpus; prints one line per target and the total. Exit 1 when any crashed.
set -u
build=$1 seconds=$2 libs=$3
cc=${FUZZ_CC:-clang}
san="-fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer"
cflags="-O1 -g -std=c11 -D_GNU_SOURCE -Iinclude $(pkg-config --cflags libcjson yaml-0.1 libmicrohttpd)"
names=$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_\(.*\)\.c|\1|')
count=$(echo "$names" | wc -w)
echo "fuzzing $count targets for ${seconds}s each (about $((count * seconds))s), ASan + UBSan"
crashed=0
for name in $names; do
    bin=$build/fuzz_$name
    # shellcheck disable=SC2086 # $libs and $san are lists of flags
    $cc $cflags $san -o "$bin" "tests/fuzz/fuzz_$name.c" "$build/libamlfs.a" $libs || { echo "FAIL $name: build"; crashed=1; continue; }
    mkdir -p "$build/corpus/$name" "$build/crashes/$name"
    log=$build/fuzz_$name.log
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 \
        -timeout=10 -artifact_prefix="$build/crashes/$name/" "$build/corpus/$name" "tests/fuzz/corpus/$name" \
        >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' | tail -1)
    if [ $rc -eq 0 ]; then
        echo "ok   $name: ${runs:-?} inputs in ${seconds}s"
    else
        crashed=1
        echo "FAIL $name: $(ls "$build/crashes/$name" | head -3 | tr '\n' ' ')(see $log); add the file to tests/fuzz/corpus/$name"
    fi
done
exit $crashed
