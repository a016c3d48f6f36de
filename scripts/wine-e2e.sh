#!/usr/bin/env bash
# The Wine end-to-end check: install the packaged driver through its INF, start it, and drive
# it from our own Windows programs; then stop and uninstall it. Any failure fails the script
# and prints the driver's debug output.
#
# Wine is the test kernel here: it runs the real afunixrs.sys inside winedevice.exe. What
# passes here passed under Wine, not on Windows.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
windows_ready "Wine end-to-end" || exit 0
source "$ROOT/scripts/wine-prefix.sh"

for f in afunixrs.sys afunixrs.inf afunixctl.exe usermode-test.exe afunixwsp.dll; do
    [ -f "$PACKAGE_DIR/$f" ] || die "target/package/$f is missing: run \`cargo make package\` first"
done

LOG=$WINE_LOG_DIR/driver.log
: >"$LOG"
ctl=$PACKAGE_DIR/afunixctl.exe
tests=$PACKAGE_DIR/usermode-test.exe
inf=$PACKAGE_DIR/afunixrs.inf

trap wine_exit_trap EXIT

# expect_status CODE PATTERN: afunixctl status exits with CODE and prints PATTERN.
expect_status() {
    local want=$1 pattern=$2 got out
    set +e
    out=$(wine "$ctl" status 2>&1)
    got=$?
    set -e
    printf '%s\n' "$out" | indent
    [ "$got" -eq "$want" ] || die "afunixctl status exited $got, expected $want"
    grep -q -- "$pattern" <<<"$out" || die "afunixctl status did not say: $pattern"
}

# expect_not_running PROGRAM PATH: `usermode-test PROGRAM PATH` (server or client) fails
# at once, saying that the driver is not running and how to start it, and nothing about the
# socket path.
expect_not_running() {
    local got out
    set +e
    out=$(wine "$tests" "$1" "$2" 2>&1)
    got=$?
    set -e
    printf '%s\n' "$out" | indent
    [ "$got" -ne 0 ] || die "usermode-test $1 succeeded without a driver"
    grep -qF 'the afunixrs driver is not running (there is no device \\.\AfUnixRs): start it with `sc start afunixrs`' <<<"$out" ||
        die "usermode-test $1 did not say that the driver is not running"
    ! grep -qiF -e 'not found' -e "$2" <<<"$out" || die "usermode-test $1 blamed the socket path"
}

# The driver's settings (README, "Registry values"), read at load: set, then restart it.
PARAMETERS='HKLM\System\CurrentControlSet\Services\afunixrs\Parameters'
set_parameter() { wine reg add "$PARAMETERS" /v "$1" /t REG_DWORD /d "$2" /f >/dev/null; }
clear_parameters() { wine reg delete "$PARAMETERS" /f >/dev/null 2>&1 || true; }
restart_driver() {
    wine sc stop afunixrs >/dev/null
    wine sc start afunixrs >/dev/null
}
# refused_allocations: how many allocations the last unloaded driver refused on purpose.
refused_allocations() {
    grep -ao 'low-resources mode: [0-9]* of [0-9]* pool allocations were refused' "$LOG" | tail -1 |
        awk '{print $3 " of " $5}'
}

wine_prefix_ready
wine_session_start "$LOG"

# A run that was interrupted may have left the service behind in the prefix.
if wine sc query afunixrs >/dev/null 2>&1; then
    say "removing a service left by an earlier run"
    wine sc stop afunixrs >/dev/null 2>&1 || true
    wine sc delete afunixrs >/dev/null 2>&1 || true
fi
rm -f "$WINEPREFIX/drive_c/windows/system32/drivers/afunixrs.sys"

step "before installing: afunixctl status must say the service is missing, and the library that the driver is not running"
expect_status 1 "the service afunixrs is not installed"
expect_not_running server 'C:\users\Public\afunix-e2e.sock'

step "installing through the INF (setupapi InstallHinfSection DefaultInstall)"
wine rundll32 setupapi.dll,InstallHinfSection DefaultInstall 128 "$(winpath "$inf")"
[ -f "$WINEPREFIX/drive_c/windows/system32/drivers/afunixrs.sys" ] ||
    die "the INF did not copy afunixrs.sys to system32\\drivers"
cmp -s "$PACKAGE_DIR/afunixrs.sys" "$WINEPREFIX/drive_c/windows/system32/drivers/afunixrs.sys" ||
    die "the installed afunixrs.sys differs from the package's"
expect_status 1 "STATE              : 1  STOPPED"

step "starting the driver"
clear_parameters # an interrupted run may have left its settings behind
wine sc start afunixrs >/dev/null
step "afunixctl status (the service must be RUNNING and the driver must answer)"
expect_status 0 "STATE              : 4  RUNNING"
out=$(wine "$ctl" status)
grep -q "OPEN_HANDLES       : 1" <<<"$out" || die "STATS should count afunixctl's own handle"
grep -q "BINARY_PATH_NAME   : .*afunixrs.sys" <<<"$out" || die "no binary path from the SCM"

step "afunixctl status --json"
wine "$ctl" status --json >"$WINE_LOG_DIR/status.json"
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")
python3 - "$version" "$WINE_LOG_DIR/status.json" <<'PY' || die "afunixctl status --json disagrees with the driver"
import json, sys
report = json.load(open(sys.argv[2]))
assert report["error"] is None, report["error"]
assert report["service"]["state"] == 4, report["service"]
assert report["service"]["service_type"] == 1, report["service"]
assert report["driver"]["version"] == sys.argv[1], (report["driver"], sys.argv[1])
assert report["driver"]["stats_version"] == 2
assert report["driver"]["sockets"] == 0 and report["driver"]["pending_irps"] == 0, report["driver"]
assert report["driver"]["open_handles"] == 1
print("    json: service RUNNING, driver", report["driver"]["version"], "answered")
PY

step "usermode-test smoke"
wine "$tests" smoke | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test smoke failed"

step "usermode-test driver (the library against the real driver)"
wine "$tests" driver | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test driver failed"

step "(b) the conformance scenarios recorded on Linux, replayed through the driver"
trace=$TARGET_DIR/conformance/trace.jsonl
[ -f "$trace" ] || die "no recorded trace at ${trace#"$ROOT"/}: run \`cargo make conformance\` first"
wine "$tests" conformance --replay "$(winpath "$trace")" --driver | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "the driver's results differ from Linux's"

step "(a) client and server in two processes, through a socket file"
sock='C:\users\Public\afunix-e2e.sock'
rm -f "$WINEPREFIX/drive_c/users/Public/afunix-e2e.sock"
wine "$tests" server "$sock" --connections 2 >"$WINE_LOG_DIR/server.log" 2>&1 &
server=$!
wine "$tests" client "$sock" --message "hello from another process" | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test client failed"
wine "$tests" client "$sock" --message "and again" | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test client failed"
wait "$server" || { cat "$WINE_LOG_DIR/server.log"; die "usermode-test server failed"; }
indent <"$WINE_LOG_DIR/server.log"

step "(g) the Winsock provider, loaded directly (LoadLibrary + WSPStartup), against the driver"
wine "$tests" wsp --replay "$(winpath "$trace")" | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "the provider's checks or its conformance replay failed"

step "(g) across processes: a Winsock client with a library server, a library client with a Winsock server"
sock='C:\users\Public\afunix-wsp.sock'
rm -f "$WINEPREFIX/drive_c/users/Public/afunix-wsp.sock"
wine "$tests" server "$sock" >"$WINE_LOG_DIR/server-lib.log" 2>&1 &
server=$!
wine "$tests" wsp-client "$sock" --message "winsock to library" | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test wsp-client failed"
wait "$server" || { cat "$WINE_LOG_DIR/server-lib.log"; die "usermode-test server failed"; }
rm -f "$WINEPREFIX/drive_c/users/Public/afunix-wsp.sock"
wine "$tests" wsp-server "$sock" >"$WINE_LOG_DIR/server-wsp.log" 2>&1 &
server=$!
wine "$tests" client "$sock" --message "library to winsock" | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test client against wsp-server failed"
wait "$server" || { cat "$WINE_LOG_DIR/server-wsp.log"; die "usermode-test wsp-server failed"; }
indent <"$WINE_LOG_DIR/server-wsp.log"

step "(c) stress: 16 connections x 16 MiB in random-size chunks, checksummed"
wine "$tests" stress --connections 16 --megabytes 16 | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test stress failed"

step "(d) cancellation: 1000 pending reads and CancelIoEx; a process killed holding reads"
wine "$tests" cancel --count 1000 | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test cancel failed"
wine "$tests" hold --count 50 | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test hold failed"

step "(k) message sockets: datagrams and seqpacket between two processes (socket files, abstract names), a full receiver holding its sender, 100 RECVFROMs cancelled; STATS back to zero"
wine "$tests" messages | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test messages failed"

step "(m) passing handles (SCM_RIGHTS): a file, a pipe and a listening socket to another process, which reads, writes and accepts; MSG_CTRUNC closing what did not fit; a waiting RECVMSG; cycles; STATS back to zero"
wine "$tests" rights | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test rights failed"

step "(l) async Rust: a tokio echo server and 1000 concurrent clients through afunix::tokio (64 KiB each in random-size writes, checksummed), then 1000 more dropped at random points; STATS back to zero"
wine "$tests" tokio-echo --clients 1000 --bytes 65536 | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test tokio-echo failed"

step "(h) one user's share: 4096 sockets then EMFILE, 4096 pending reads then ENOBUFS, then working again"
wine "$tests" shares | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test shares failed"

step "(i) low-resources mode, every 13th pool allocation refused: stress, cancellation and the replay accept only ENOBUFS/ENOMEM, lose no accepted byte, and end with STATS at zero"
set_parameter FailAllocations 13
restart_driver
grep -aq 'settings: low-resources mode: every 13th pool allocation fails' "$LOG" ||
    die "the driver did not report its low-resources mode"
wine "$tests" stress --connections 8 --megabytes 4 --faults | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test stress --faults failed"
wine "$tests" cancel --count 1000 --faults | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test cancel --faults failed"
wine "$tests" conformance --replay "$(winpath "$trace")" --driver --faults | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "the conformance replay in low-resources mode differs from Linux"

step "(i) low-resources mode, one pool allocation in 10 refused at random (seed 20261): stress again"
set_parameter FailAllocations 10
set_parameter FailSeed 20261
restart_driver
counted=$(refused_allocations)
say "every 13th: $counted pool allocations refused"
[ -n "$counted" ] && [ "${counted%% *}" -gt 0 ] || die "the every-13th run refused no allocation"
grep -aq 'settings: low-resources mode: one pool allocation in 10 fails at random (seed 20261)' "$LOG" ||
    die "the driver did not report its random low-resources mode"
wine "$tests" stress --connections 8 --megabytes 4 --faults | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test stress --faults (random) failed"

step "(j) overload, UserShareDivisor 1: 16384 sockets then EMFILE; 64 MiB buffered by 400 connections, drained and checked"
clear_parameters
set_parameter UserShareDivisor 1
restart_driver
counted=$(refused_allocations)
say "one in 10 at random: $counted pool allocations refused"
[ -n "$counted" ] && [ "${counted%% *}" -gt 0 ] || die "the random run refused no allocation"
grep -aq 'settings: UserShareDivisor 1' "$LOG" || die "the driver did not report UserShareDivisor 1"
wine "$tests" overload --connections 400 | indent
[ "${PIPESTATUS[0]}" -eq 0 ] || die "usermode-test overload failed"
clear_parameters
restart_driver

step "throughput and round trip under Wine (figures for the README; not a pass/fail test)"
wine "$tests" bench | indent
wine "$tests" bench-async | indent

step "after everything: afunixctl status must show no socket and no pending IRP"
wine "$ctl" status --json >"$WINE_LOG_DIR/status-after.json"
python3 - "$WINE_LOG_DIR/status-after.json" <<'PY' || die "the driver still holds sockets or IRPs"
import json, sys
driver = json.load(open(sys.argv[1]))["driver"]
assert driver["sockets"] == 0 and driver["pending_irps"] == 0 and driver["bound_names"] == 0, driver
print("    sockets 0, bound names 0, pending IRPs 0; bytes buffered", driver["bytes_buffered"])
PY

step "stopping the driver: status says STOPPED, and the library that the driver is not running"
wine sc stop afunixrs >/dev/null
expect_status 1 "the service afunixrs is STOPPED"
expect_not_running client 'C:\users\Public\afunix-e2e.sock'

step "uninstalling through the INF (DefaultUninstall)"
wine rundll32 setupapi.dll,InstallHinfSection DefaultUninstall 128 "$(winpath "$inf")"
expect_status 1 "the service afunixrs is not installed"
[ ! -e "$WINEPREFIX/drive_c/windows/system32/drivers/afunixrs.sys" ] ||
    die "DefaultUninstall left afunixrs.sys in system32\\drivers"

grep -aq 'afunixrs: loaded' "$LOG" || die "the driver never printed its load line"
grep -aq 'afunixrs: unloaded' "$LOG" || die "DriverUnload never ran"
grep -aq 'afunixrs: device DACL set and read back' "$LOG" || die "the driver did not confirm its device DACL"
grep -aq 'afunixrs: device label set and read back: S:(ML;;NWNRNX;;;ME)' "$LOG" ||
    die "the driver did not confirm its device's mandatory label"
# Rate-limited: the smoke check's 200 unknown IOCTLs in a burst leave a few lines and a count.
unlogged=$(grep -ao '[0-9]* more unknown requests were not logged' "$LOG" | awk '{n += $1} END {print n + 0}')
[ "$unlogged" -ge 190 ] || die "the driver's log of unknown requests was not rate-limited (counted $unlogged left out)"
unknown_lines=$(grep -ac 'afunixrs: unknown IOCTL' "$LOG" || true)
say "unknown requests: $unknown_lines logged, $unlogged left out by the rate limit"
# Quiet: the driver reports a volume without reparse points once per load, not once per bind
# (the low-resources and overload stages load it again).
repeated=$(grep -ao 'afunixrs: loading\|volume 0x[0-9a-f]* holds no reparse points' "$LOG" |
    awk '/loading/ {load++; next} {print load ": " $0}' | sort | uniq -d)
[ -z "$repeated" ] || die "the driver reported a volume without reparse points more than once: $repeated"
wine_driver_summary "$LOG"
say "Wine end-to-end: PASSED (installed by INF, started, status RUNNING, smoke, driver checks, client/server, Winsock provider, stress, cancellation, message sockets, a user's shares, low-resources mode, overload, stopped, uninstalled)"
