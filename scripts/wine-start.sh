#!/usr/bin/env bash
# The end of the main job: install the packaged driver through its INF in the project's own
# Wine prefix (target/wine/main/prefix), start it, and leave it RUNNING, with a Wine session
# that stays up, so that the programs can be used by hand (`./mk run ...`) until `./mk stop`.
# Prints `afunixctl status` last.
#
# Wine ends its server (and with it winedevice.exe, the driver's host) a few seconds after
# the last program exits; `wineserver -p` keeps it. Running this again starts afresh: the
# old session ends (with any program still running in it) and the package is reinstalled.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
windows_ready "install and start the driver under Wine" || exit 0
source "$ROOT/scripts/wine-prefix.sh" main

for f in afunixrs.sys afunixrs.inf afunixctl.exe; do
    [ -f "$PACKAGE_DIR/$f" ] || die "target/package/$f is missing: run \`cargo make package\` first"
done

LOG=$WINE_LOG_DIR/driver.log
ctl=$PACKAGE_DIR/afunixctl.exe
inf=$PACKAGE_DIR/afunixrs.inf
installed=$WINEPREFIX/drive_c/windows/system32/drivers/afunixrs.sys
rel() { printf '%s' "${1#"$ROOT"/}"; }

# On failure: the driver's output, and no half-started session left behind.
on_exit() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        [ -f "$LOG" ] && wine_driver_log "$LOG"
        wine sc stop afunixrs >/dev/null 2>&1 || true
        wine_session_end
    fi
    exit "$status"
}
trap on_exit EXIT

wine_prefix_ready
if wine_session_alive; then
    say "ending the Wine session an earlier run left in $(rel "$WINEPREFIX") (and any program in it)"
fi
: >"$LOG"
say "starting a persistent Wine session in $(rel "$WINEPREFIX") (wineserver -p; driver output to $(rel "$LOG"))"
wine_session_start "$LOG"

# An earlier run's service is still registered (stopped, since its session ended).
if wine sc query afunixrs >/dev/null 2>&1; then
    wine sc stop afunixrs >/dev/null 2>&1 || true
    wine sc delete afunixrs >/dev/null 2>&1 || true
fi
rm -f "$installed"

say "installing the driver through its INF (setupapi InstallHinfSection DefaultInstall)"
wine rundll32 setupapi.dll,InstallHinfSection DefaultInstall 128 "$(winpath "$inf")" </dev/null
cmp -s "$PACKAGE_DIR/afunixrs.sys" "$installed" ||
    die "the INF did not install target/package/afunixrs.sys as $(rel "$installed")"

say "starting the driver (sc start afunixrs)"
wine sc start afunixrs </dev/null >/dev/null || die "sc start afunixrs failed"

status=$(wine "$ctl" status </dev/null 2>&1) || {
    printf '%s\n' "$status"
    die "afunixctl status does not show the driver RUNNING"
}
grep -q 'STATE              : 4  RUNNING' <<<"$status" || die "the service is not RUNNING"
grep -aq 'afunixrs: loaded' "$LOG" || die "the driver never printed its load line"

cat <<EOF

The driver is installed and RUNNING in $(rel "$WINEPREFIX"), and stays running.
  use it        ./mk run afunixctl status --json
  in a terminal ./mk run usermode-test server 'C:\\users\\Public\\demo.sock'
  in another    ./mk run usermode-test client 'C:\\users\\Public\\demo.sock' --message 'hi there'
  its log       $(rel "$LOG")
  stop it       ./mk stop   (stops and uninstalls the driver, ends the Wine session)

==> afunixctl status
EOF
printf '%s\n' "$status"
