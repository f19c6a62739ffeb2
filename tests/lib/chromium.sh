# chromium.sh: a chart seen as a person sees it: Debian's chromium draws an SVG headless into a PNG.
# Source it after e2e.sh (it uses $T and wait_for); chromium_missing says why shots cannot be taken.

CHROMIUM=${CHROMIUM:-chromium}

chromium_missing() {
    command -v "$CHROMIUM" >/dev/null 2>&1 && return 1
    echo "chromium is not installed (scripts/deps.sh installs Debian's)"
}

# PID (a child of this shell) has ended: gone, or a zombie until it is waited for.
_chromium_ended() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# chromium_shot SVG PNG: PNG is SVG drawn at its own size. A copy is opened by file:// (no network: the
# proxy is a closed port and background fetches are off), with its own profile under $T; a browser
# still running after 60 s is ended by its pid. Returns chromium's status (124 on the timeout).
chromium_shot() {
    local svg=$1 png=$2 dir size pid rc
    dir=$(mktemp -d "$T/shot.XXXXXX") || return 1
    cp "$svg" "$dir/chart.svg" || return 1
    size=$(python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot()
print("%d,%d" % (float(r.get("width")), float(r.get("height"))))' "$dir/chart.svg") || return 1
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
        --no-first-run --no-default-browser-check --disable-extensions --disable-sync \
        --disable-background-networking --disable-component-update --proxy-server=127.0.0.1:9 \
        --user-data-dir="$dir/profile" --window-size="$size" --screenshot="$png" \
        "file://$dir/chart.svg" > "$dir/chromium.log" 2>&1 &
    pid=$!
    if ! wait_for 60 _chromium_ended "$pid"; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        echo "chromium did not finish in 60 s: $(tail -3 "$dir/chromium.log")" >&2
        return 124
    fi
    wait "$pid"
    rc=$?
    [ "$rc" = 0 ] && [ -s "$png" ] || echo "chromium failed ($rc): $(grep -v dbus "$dir/chromium.log" | tail -3)" >&2
    return "$rc"
}
