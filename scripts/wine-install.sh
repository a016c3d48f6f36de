#!/usr/bin/env bash
# The Wine check of `afunixctl install` and `uninstall`: with only the packaged afunixctl.exe,
# afunixrs.sys and afunixwsp.dll, install, install again, check status, uninstall, uninstall
# again, and check that the prefix is as it was: no service, no files, the same Winsock
# catalog.
#
# Wine's ws2_32 cannot register providers: WSCInstallProvider, WSCDeinstallProvider and
# WSCWriteProviderOrder are stubs that return success and change nothing, and WSCEnumProtocols
# lists Wine's fixed built-in protocols. So the catalog comparisons here hold trivially under
# Wine; the script says so when it sees it. The catalog behaviour is checked only on Windows
# (docs/provider-install.md). What passes here passed under Wine, not on Windows.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
windows_ready "Wine install/uninstall" || exit 0
source "$ROOT/scripts/wine-prefix.sh"

for f in afunixctl.exe afunixrs.sys afunixkm.sys afunixwsp.dll; do
    [ -f "$PACKAGE_DIR/$f" ] || die "target/package/$f is missing: run \`cargo make package\` first"
done

LOG=$WINE_LOG_DIR/install.log
: >"$LOG"
OUT=$WINE_LOG_DIR/install
rm -rf "$OUT"
mkdir -p "$OUT"
ctl=$PACKAGE_DIR/afunixctl.exe
sys32=$WINEPREFIX/drive_c/windows/system32
driver_file=$sys32/drivers/afunixrs.sys
kmdf_file=$sys32/drivers/afunixkm.sys
provider_file=$sys32/afunixwsp.dll

trap wine_exit_trap EXIT

# run NAME WANT ARGS...: runs afunixctl ARGS, shows its output, saves it as $OUT/NAME.out,
# and fails unless it exits WANT.
run() {
    local name=$1 want=$2 got
    shift 2
    set +e
    wine "$ctl" "$@" >"$OUT/$name.out" 2>&1
    got=$?
    set -e
    indent <"$OUT/$name.out"
    [ "$got" -eq "$want" ] || die "afunixctl $* exited $got, expected $want"
}

# says NAME PATTERN: the output of step NAME has a line matching PATTERN.
says() {
    grep -q -- "$2" "$OUT/$1.out" || die "afunixctl ($1) did not say: $2"
}

# catalog NAME: the whole Winsock catalog as JSON, into $OUT/NAME.json.
catalog() {
    wine "$ctl" catalog --json >"$OUT/$1.json" 2>"$OUT/$1.err" ||
        { cat "$OUT/$1.err"; die "afunixctl catalog --json failed"; }
}

# same_catalog A B: the two enumerations are identical (every field, the same order).
same_catalog() {
    python3 - "$OUT/$1.json" "$OUT/$2.json" <<'PY' || die "the Winsock catalog differs between $1 and $2"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
if a != b:
    print("    catalog", sys.argv[1], "has", len(a), "entries,", sys.argv[2], "has", len(b))
    sys.exit(1)
PY
}

# ours_in NAME: how many entries of the catalog NAME have our provider GUID.
ours_in() {
    python3 - "$OUT/$1.json" <<'PY'
import json, sys
print(sum(e["provider_id"] == "{D521FB18-0098-4226-9325-2E4EBCC87F39}" for e in json.load(open(sys.argv[1]))))
PY
}

# kmdf_version: the service's Parameters\Wdf\KmdfLibraryVersion, or nothing.
kmdf_version() {
    wine reg query 'HKLM\System\CurrentControlSet\Services\afunixrs\Parameters\Wdf' \
        /v KmdfLibraryVersion 2>/dev/null | tr -d '\r' | awk '/KmdfLibraryVersion/{print $NF}'
}

# service_keys: how many services in the registry have afunixrs.sys as their image.
service_keys() {
    wine reg query 'HKLM\System\CurrentControlSet\Services' /s 2>/dev/null |
        tr -d '\r' | grep -ci 'ImagePath.*afunixrs\.sys' || true
}

wine_prefix_ready
wine_session_start "$LOG"

# A run that was interrupted may have left things behind in the prefix.
if wine sc query afunixrs >/dev/null 2>&1; then
    say "removing a service left by an earlier run"
    wine sc stop afunixrs >/dev/null 2>&1 || true
    wine sc delete afunixrs >/dev/null 2>&1 || true
fi
rm -f "$driver_file" "$kmdf_file" "$provider_file"

say "before installing: status says the service is missing, and the catalog has no entry of ours"
run status-before 1 status
says status-before "the service afunixrs is not installed"
says status-before "not installed in the Winsock catalog"
catalog before
say "the catalog before install: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$OUT/before.json") entries, $(ours_in before) of ours"

say "a missing driver file fails before anything changes, naming the step and the error"
run missing-driver 1 install --driver 'Z:\nonexistent\afunixrs.sys'
says missing-driver 'afunixctl: install: finding Z:\\nonexistent\\afunixrs.sys failed: ERROR_PATH_NOT_FOUND (3)\|ERROR_FILE_NOT_FOUND (2)'
! wine sc query afunixrs >/dev/null 2>&1 || die "a failed install left a service behind"
[ ! -e "$driver_file" ] || die "a failed install copied the driver"

say "install"
run install-1 0 install
says install-1 "service afunixrs: created (kernel driver, demand start"
says install-1 "service afunixrs: started, RUNNING"
says install-1 "afunixctl: installed"
cmp -s "$PACKAGE_DIR/afunixrs.sys" "$driver_file" || die "the installed afunixrs.sys differs from the package's"
cmp -s "$PACKAGE_DIR/afunixwsp.dll" "$provider_file" || die "the installed afunixwsp.dll differs from the package's"
[ "$(service_keys)" -eq 1 ] || die "expected one service with afunixrs.sys as its image, found $(service_keys)"
catalog installed-1

stub_catalog=no
if [ "$(ours_in installed-1)" -eq 0 ]; then
    stub_catalog=yes
    says install-1 "WSCInstallProvider returned success, but WSCEnumProtocols does not list the provider"
    printf '\n!!!!!!!!!!\nNOTE: this Wine does not register Winsock providers: WSCInstallProvider returned\n'
    printf 'success and the catalog is unchanged. Every catalog comparison below holds trivially\n'
    printf 'under Wine; the catalog behaviour is checked only on Windows (docs/provider-install.md).\n!!!!!!!!!!\n\n'
else
    say "the catalog lists the provider: $(ours_in installed-1) entr(y/ies)"
    says install-1 "catalog: provider {D521FB18-0098-4226-9325-2E4EBCC87F39} registered"
fi

say "install again: idempotent (nothing copied, one service, the same catalog)"
run install-2 0 install
says install-2 "driver: .*afunixrs.sys already in place (identical)"
says install-2 "provider: .*afunixwsp.dll already in place (identical)"
says install-2 "service afunixrs: already installed with binary"
says install-2 "service afunixrs: already RUNNING"
if [ "$stub_catalog" = no ]; then
    says install-2 "catalog: provider .* already registered"
fi
[ "$(service_keys)" -eq 1 ] || die "expected one service after a second install, found $(service_keys)"
cmp -s "$PACKAGE_DIR/afunixrs.sys" "$driver_file" || die "afunixrs.sys changed"
cmp -s "$PACKAGE_DIR/afunixwsp.dll" "$provider_file" || die "afunixwsp.dll changed"
catalog installed-2
same_catalog installed-1 installed-2

say "install --prefer (under Wine there is no entry of ours to move)"
run install-prefer 0 install --prefer --no-start
if [ "$stub_catalog" = yes ]; then
    says install-prefer "catalog order: not changed: the provider is not in the catalog"
    catalog preferred
    same_catalog installed-2 preferred
else
    catalog preferred
    python3 - "$OUT/preferred.json" <<'PY' || die "--prefer did not put the provider first"
import json, sys
c = json.load(open(sys.argv[1]))
assert c[0]["provider_id"] == "{D521FB18-0098-4226-9325-2E4EBCC87F39}", c[0]
PY
fi

say "status: RUNNING, the driver answers, and the catalog section"
run status-installed 0 status
says status-installed "STATE              : 4  RUNNING"
says status-installed "BINARY_PATH_NAME   : .*afunixrs.sys"
says status-installed "FRONT_END          : WDM"
says status-installed "WINSOCK_CATALOG: provider {D521FB18-0098-4226-9325-2E4EBCC87F39}"
wine "$ctl" status --json >"$OUT/status-installed.json"
python3 - "$OUT/status-installed.json" "$stub_catalog" <<'PY' || die "afunixctl status --json is wrong"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["error"] is None, r["error"]
assert r["service"]["state"] == 4, r["service"]
assert r["catalog"]["error"] is None, r["catalog"]
assert r["catalog"]["total_entries"] > 0, r["catalog"]
want = 0 if sys.argv[2] == "yes" else 1
assert len(r["catalog"]["entries"]) >= want, r["catalog"]
print("    json: service RUNNING; catalog:", r["catalog"]["total_entries"], "entries,",
      len(r["catalog"]["entries"]), "of ours")
PY

say "install --kmdf: the KMDF build in the same service, marked for KMDF 1.33; not started here"
run stop-for-kmdf 0 uninstall
run install-kmdf 0 install --kmdf --no-start
says install-kmdf "driver: copied .*afunixkm.sys"
says install-kmdf "KMDF build; .*KmdfLibraryVersion = 1.33"
says install-kmdf "service afunixrs: not started (--no-start)"
cmp -s "$PACKAGE_DIR/afunixkm.sys" "$kmdf_file" || die "the installed afunixkm.sys differs from the package's"
[ "$(kmdf_version)" = "1.33" ] || die "install --kmdf did not write KmdfLibraryVersion 1.33 (got '$(kmdf_version)')"
run status-kmdf 1 status
says status-kmdf "BINARY_PATH_NAME   : .*afunixkm.sys"
says status-kmdf "STATE              : 1  STOPPED"
# Wine has no KMDF runtime (no WDFLDR.SYS), so the KMDF build is never started here.
say "install (WDM) again: the service goes back to afunixrs.sys and loses the KMDF marker"
run install-back 0 install
says install-back "binary path changed from .*afunixkm.sys to .*afunixrs.sys"
says install-back "WDM build; the KMDF build's .*KmdfLibraryVersion removed"
says install-back "service afunixrs: started, RUNNING"
[ -z "$(kmdf_version)" ] || die "KmdfLibraryVersion is still set after installing the WDM build"

say "uninstall"
run uninstall-1 0 uninstall
says uninstall-1 "service afunixrs: stopped and deleted"
says uninstall-1 "driver: deleted"
says uninstall-1 "provider: deleted"
says uninstall-1 "afunixctl: uninstalled"
[ ! -e "$driver_file" ] || die "uninstall left afunixrs.sys"
[ ! -e "$kmdf_file" ] || die "uninstall left afunixkm.sys"
[ ! -e "$provider_file" ] || die "uninstall left afunixwsp.dll"
! wine sc query afunixrs >/dev/null 2>&1 || die "uninstall left the service"
[ "$(service_keys)" -eq 0 ] || die "uninstall left a service with afunixrs.sys as its image"

say "uninstall again: nothing to do, and success"
run uninstall-2 0 uninstall
says uninstall-2 "afunixctl: nothing to do: afunix-rs was not installed"

say "a service left with another binary path is repointed, not duplicated"
wine sc create afunixrs type= kernel start= demand binPath= 'C:\windows\system32\drivers\elsewhere.sys' >/dev/null
run install-repoint 0 install --no-start
says install-repoint "binary path changed from .*elsewhere.sys to .*afunixrs.sys"
says install-repoint "service afunixrs: not started (--no-start)"
[ "$(service_keys)" -eq 1 ] || die "expected one service after repointing, found $(service_keys)"
run uninstall-repoint 0 uninstall
says uninstall-repoint "service afunixrs: deleted (it was not running)"

say "after uninstalling: as before install"
run status-after 1 status
says status-after "the service afunixrs is not installed"
says status-after "not installed in the Winsock catalog"
[ ! -e "$driver_file" ] && [ ! -e "$provider_file" ] || die "files left behind"
catalog after
same_catalog before after

grep -aq 'afunixrs: loaded' "$LOG" || die "the driver never printed its load line"
grep -aq 'afunixrs: unloaded' "$LOG" || die "DriverUnload never ran"

if [ "$stub_catalog" = yes ]; then
    say "Wine install/uninstall: PASSED under Wine: install, install again, status, uninstall, uninstall again; files copied and removed, one service created, started, stopped and deleted, a stale service repointed, failures named. NOT verified: the Winsock catalog, because Wine's WSCInstallProvider/WSCDeinstallProvider/WSCWriteProviderOrder are stubs (the catalog was identical throughout because nothing was ever registered); see docs/provider-install.md for the Windows check"
else
    say "Wine install/uninstall: PASSED, including the Winsock catalog (registered once, preferred, removed, order restored)"
fi
