#!/usr/bin/env bash
# Access checks under Wine, which maps Windows access checks onto Unix permissions: as root
# every open is allowed, so this runs the driver and the test program as the unprivileged
# user `nobody`, in a Wine prefix of its own. Binding in a directory nobody may not write,
# and connecting to a socket file nobody may not write, must both fail with EACCES.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
windows_ready "Wine permissions" || exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
    skip "Wine permissions" "needs root and setpriv to run as the unprivileged user nobody"
    exit 0
fi
for f in afunixrs.sys usermode-test.exe; do
    [ -f "$PACKAGE_DIR/$f" ] || die "target/package/$f is missing: run \`cargo make package\` first"
done

# Everything nobody touches lives outside target/ (which nobody may not enter).
base=/tmp/afunix-rs-permissions
rm -rf "$base"
mkdir -p "$base/home" "$base/work" "$base/read-only"
cp "$PACKAGE_DIR/afunixrs.sys" "$PACKAGE_DIR/usermode-test.exe" "$TARGET_DIR/wine-shim/bcryptprimitives.dll" "$base/"
chown -R nobody:nogroup "$base/home" "$base/work"
chmod 0755 "$base" "$base/read-only"
chmod 0644 "$base"/*.sys "$base"/*.exe "$base"/*.dll
LOG=$TARGET_DIR/wine/permissions.log
mkdir -p "$TARGET_DIR/wine"
: >"$LOG"

as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env -i PATH=/usr/bin:/bin HOME="$base/home" WINEPREFIX="$base/home/prefix" \
        WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" "$@"
}

cleanup() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        printf '\n---- driver debug output (%s) ----\n' "${LOG#"$ROOT"/}"
        grep -a 'afunixrs' "$LOG" || echo "(the driver printed nothing)"
    fi
    as_nobody wineserver -k 2>/dev/null || true
    exit "$status"
}
trap cleanup EXIT

say "making a Wine prefix for nobody"
as_nobody wineboot -i >"$base/home/wineboot.log" 2>&1 || { cat "$base/home/wineboot.log"; die "wineboot as nobody failed"; }
as_nobody wineserver -k 2>/dev/null || true
as_nobody cp "$base/bcryptprimitives.dll" "$base/home/prefix/drive_c/windows/system32/"
as_nobody cp "$base/afunixrs.sys" "$base/home/prefix/drive_c/windows/system32/drivers/"
as_nobody wineserver -p
as_nobody env WINEDEBUG=-all,+debugstr wine cmd /c exit 2>>"$LOG"
as_nobody wine sc create afunixrs type= kernel binPath= 'C:\windows\system32\drivers\afunixrs.sys' >/dev/null
as_nobody wine sc start afunixrs >/dev/null

say "as nobody: bind in a directory it may not write, connect to a file it may not write"
as_nobody wine "$base/usermode-test.exe" permissions 'Z:\tmp\afunix-rs-permissions\read-only' 'Z:\tmp\afunix-rs-permissions\work' |
    indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test permissions failed"
as_nobody wine sc stop afunixrs >/dev/null || true
say "Wine permissions: PASSED (run as nobody, EACCES for bind and connect)"
