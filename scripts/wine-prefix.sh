# Sourced by the Wine stages: a quiet, private Wine prefix under target/, with our shim.
# shellcheck shell=bash

export WINEPREFIX=$TARGET_DIR/wine/prefix
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
WINE_LOG_DIR=$TARGET_DIR/wine
mkdir -p "$WINE_LOG_DIR"

# wine_prefix_ready: makes the prefix once (~6 s) and installs the ProcessPrng shim that
# Rust std programs need under Wine 8 (see tools/wine-shim/).
wine_prefix_ready() {
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        say "creating the Wine prefix ${WINEPREFIX#"$ROOT"/}"
        wineboot -i >"$WINE_LOG_DIR/wineboot.log" 2>&1 || {
            cat "$WINE_LOG_DIR/wineboot.log"
            die "wineboot -i failed"
        }
        wineserver -k 2>/dev/null || true
    fi
    cp "$TARGET_DIR/wine-shim/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
}

# wine_session_start LOG: a persistent server session whose system processes (services.exe,
# and winedevice.exe with our driver in it) print DbgPrint output into LOG.
wine_session_start() {
    wineserver -k 2>/dev/null || true

    wineserver -p
    # The first command of a session starts services.exe; it and the driver host inherit this
    # command's WINEDEBUG and stderr.
    WINEDEBUG=-all,+debugstr wine cmd /c exit 2>>"$1"
}

wine_session_end() {
    wineserver -k 2>/dev/null || true
}

# The EXIT trap of a script that runs the driver in a session logging to $LOG: on failure it
# prints the driver's debug output and removes the service; always, it ends the session.
# Use: trap wine_exit_trap EXIT
wine_exit_trap() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        printf '\n---- driver debug output (%s) ----\n' "${LOG#"$ROOT"/}"
        grep -a 'afunixrs' "$LOG" || echo "(the driver printed nothing)"
        printf -- '---- end of driver output; full Wine log: %s ----\n' "${LOG#"$ROOT"/}"
        wine sc stop afunixrs >/dev/null 2>&1 || true
        wine sc delete afunixrs >/dev/null 2>&1 || true
    fi
    wine_session_end
    exit "$status"
}

# winpath PATH: the Windows (Z:) spelling of a host path.
winpath() {
    winepath -w "$1" 2>/dev/null
}
