#!/usr/bin/env bash
# Undoes what the main job left running: stops the driver, uninstalls it through its INF
# (DefaultUninstall), and ends the Wine session in target/wine/main/prefix, with any program
# still running in it. The prefix itself stays, for the next `./mk`; delete it with
# `rm -rf target/wine/main`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/wine-prefix.sh" main

if [ ! -f "$WINEPREFIX/system.reg" ]; then
    say "nothing to stop: there is no Wine prefix at ${WINEPREFIX#"$ROOT"/}"
    exit 0
fi
command -v wine >/dev/null || die "wine is not installed, so nothing can be running"

installed=$WINEPREFIX/drive_c/windows/system32/drivers/afunixrs.sys
inf=$PACKAGE_DIR/afunixrs.inf

if wine sc query afunixrs </dev/null >/dev/null 2>&1; then
    say "stopping the driver (sc stop afunixrs)"
    wine sc stop afunixrs </dev/null >/dev/null 2>&1 || true
    if [ -f "$inf" ]; then
        say "uninstalling it through its INF (DefaultUninstall)"
        wine rundll32 setupapi.dll,InstallHinfSection DefaultUninstall 128 "$(winpath "$inf")" </dev/null
    fi
    # Without the INF (or if it left anything): what DefaultUninstall does.
    wine sc delete afunixrs </dev/null >/dev/null 2>&1 || true
    rm -f "$installed"
else
    say "the driver is not installed in ${WINEPREFIX#"$ROOT"/}"
fi

say "ending the Wine session (wineserver -k)"
wine_session_end
! wine_session_alive || die "the Wine server for ${WINEPREFIX#"$ROOT"/} is still running"
[ ! -e "$installed" ] || die "afunixrs.sys is still installed"
say "stopped: no driver, no service, no Wine session in ${WINEPREFIX#"$ROOT"/}"
