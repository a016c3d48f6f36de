# Sourced by the Wine stages: a quiet, private Wine prefix under target/, with our shim.
#
#   source wine-prefix.sh        the tests' prefix, target/wine/prefix (logs in target/wine/)
#   source wine-prefix.sh main   the main job's prefix, target/wine/main/prefix, where `./mk`
#                                leaves the driver running and `./mk run` runs programs (logs
#                                in target/wine/main/)
#
# Two prefixes, so that `./mk ci` (which ends every Wine session it starts) never touches the
# driver `./mk` left running, nor programs someone runs by hand.
# shellcheck shell=bash

if [ "${1:-}" = main ]; then
    WINE_LOG_DIR=$TARGET_DIR/wine/main
else
    WINE_LOG_DIR=$TARGET_DIR/wine
fi
export WINEPREFIX=$WINE_LOG_DIR/prefix
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$WINE_LOG_DIR"

# wine_prefix_ready: makes the prefix once (~6 s) and installs the ProcessPrng shim that
# Rust std programs need under Wine 8 (see tools/wine-shim/).
wine_prefix_ready() {
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        say "creating the Wine prefix ${WINEPREFIX#"$ROOT"/}"
        wineboot -i </dev/null >"$WINE_LOG_DIR/wineboot.log" 2>&1 || {
            cat "$WINE_LOG_DIR/wineboot.log"
            die "wineboot -i failed"
        }
        wineserver -k 2>/dev/null || true
    fi
    local shim=$TARGET_DIR/wine-shim/bcryptprimitives.dll
    [ -f "$shim" ] || die "${shim#"$ROOT"/} is missing: run \`cargo make package\` first"
    cp "$shim" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
}

# wine_session_start LOG: a persistent server session whose system processes (services.exe,
# and winedevice.exe with our driver in it) print DbgPrint output into LOG. The session
# outlives this script: `wineserver -p` keeps the server (and with it winedevice.exe, the
# driver's host) up when no program runs, until `wineserver -k`.
wine_session_start() {
    wineserver -k 2>/dev/null || true

    # The server and the system processes it starts must not hold this script's terminal or
    # pipe open: a `./mk | tee` would wait for them for ever.
    wineserver -p </dev/null >/dev/null 2>&1
    # The first command of a session starts services.exe; it and the driver host inherit this
    # command's WINEDEBUG and stderr.
    WINEDEBUG=-all,+debugstr wine cmd /c exit </dev/null >/dev/null 2>>"$1"
}

wine_session_end() {
    wineserver -k 2>/dev/null || true
}

# wine_session_alive: true when a Wine server runs for $WINEPREFIX. Wine names the server's
# directory after the prefix directory's device and inode, and removes its socket when the
# server ends. Upstream keeps it in /tmp/.wine-UID; Debian's Wine in a /tmp/wine-XXXXXX of
# its own.
wine_session_alive() {
    local dev ino dir
    [ -d "$WINEPREFIX" ] || return 1
    read -r dev ino < <(stat -c '%d %i' "$WINEPREFIX") || return 1
    for dir in "/tmp/.wine-$(id -u)" /tmp/wine-*; do
        [ -S "$dir/server-$(printf '%x' "$dev")-$(printf '%x' "$ino")/socket" ] && [ -O "$dir" ] && return 0
    done
    return 1
}

# wine_driver_log LOG: the driver's own lines in LOG, for a failure report.
wine_driver_log() {
    printf '\n---- driver debug output (%s) ----\n' "${1#"$ROOT"/}"
    grep -a 'afunixrs' "$1" || echo "(the driver printed nothing)"
    printf -- '---- end of driver output; full Wine log: %s ----\n' "${1#"$ROOT"/}"
}

# The EXIT trap of a script that runs the driver in a session logging to $LOG: on failure it
# prints the driver's debug output and removes the service; always, it ends the session.
# Use: trap wine_exit_trap EXIT
wine_exit_trap() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        wine_driver_log "$LOG"
        wine sc stop afunixrs >/dev/null 2>&1 || true
        wine sc delete afunixrs >/dev/null 2>&1 || true
    fi
    wine_session_end
    exit "$status"
}

# wine_driver_summary LOG: after a passing stage, one line about the driver's output instead
# of the output itself (it is printed only when a stage fails).
wine_driver_summary() {
    local lines
    lines=$(grep -ac 'afunixrs:' "$1" || true)
    say "the driver printed $lines line(s), in ${1#"$ROOT"/} (shown only when a stage fails)"
}

# winpath PATH: the Windows (Z:) spelling of a host path.
winpath() {
    winepath -w "$1" 2>/dev/null
}
