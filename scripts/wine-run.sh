#!/usr/bin/env bash
# Runs one of the packaged programs under Wine in the prefix where `./mk` left the driver
# running (target/wine/main/prefix):
#
#   ./mk run afunixctl status --json
#   ./mk run usermode-test server 'C:\users\Public\demo.sock'
#   ./mk run usermode-test client 'C:\users\Public\demo.sock' --message 'hi there'
#
# PROGRAM is afunixctl or usermode-test (or another .exe in target/package/); the arguments
# go to it unchanged, and its exit status is this script's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/wine-prefix.sh" main

if [ $# -eq 0 ]; then
    printf 'usage: ./mk run PROGRAM [ARGS...]   (PROGRAM: one of %s)\n' \
        "$(cd "$PACKAGE_DIR" 2>/dev/null && ls -- *.exe 2>/dev/null | sed 's/\.exe$//' | tr '\n' ' ')" >&2
    exit 2
fi
program=${1%.exe}
shift
exe=$PACKAGE_DIR/$program.exe
[ -f "$exe" ] || die "no ${exe#"$ROOT"/}: run \`./mk\` first (it builds the package and starts the driver)"

wine_prefix_ready
if ! wine_session_alive; then
    printf 'note: no Wine session runs in %s, so the driver is not running there: `./mk start` (or `./mk`) installs and starts it\n' \
        "${WINEPREFIX#"$ROOT"/}" >&2
fi
exec wine "$exe" "$@"
