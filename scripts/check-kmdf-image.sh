#!/usr/bin/env bash
# Checks the KMDF driver image, which cannot run here (Wine has no KMDF runtime), against what
# its build promises:
#
#   - a native-subsystem, integrity-checked kernel image whose entry point is our own loader
#     bootstrap, FxDriverEntry (no WdfDriverEntry.lib);
#   - imports from WDFLDR.SYS of exactly WdfVersionBind and WdfVersionUnbind;
#   - every other import one the WDM image also makes (ntoskrnl.exe, and cng.sys's
#     BCryptGenRandom), which scripts/check-driver-imports.sh checked against the kernel the
#     WDM driver runs on: the KMDF front end adds no kernel function of its own.
#
# Usage: check-kmdf-image.sh [afunixkm.sys [afunixrs.sys]]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
windows_ready "KMDF image check" || exit 0

kmdf=${1:-$PACKAGE_DIR/afunixkm.sys}
wdm=${2:-$PACKAGE_DIR/afunixrs.sys}
[ -f "$kmdf" ] || die "no KMDF driver image at $kmdf"
[ -f "$wdm" ] || die "no WDM driver image at $wdm"

headers=$(llvm-readobj --file-headers "$kmdf")
grep -q 'Subsystem: IMAGE_SUBSYSTEM_NATIVE' <<<"$headers" || die "$kmdf: subsystem is not NATIVE"
grep -q 'IMAGE_DLL_CHARACTERISTICS_FORCE_INTEGRITY' <<<"$headers" ||
    die "$kmdf: not marked for signature checking at load (/INTEGRITYCHECK)"

# The entry point's address is FxDriverEntry's, as the export table gives it.
entry=$(awk '/AddressOfEntryPoint:/{print tolower($2)}' <<<"$headers")
fx=$(llvm-readobj --coff-exports "$kmdf" |
    awk '/Name: FxDriverEntry$/{found=1} found && /RVA:/{print tolower($2); exit}')
[ -n "$fx" ] || die "$kmdf does not export FxDriverEntry"
[ "$((entry))" -eq "$((fx))" ] || die "$kmdf: the entry point ($entry) is not FxDriverEntry ($fx)"

imports_of() {
    llvm-readobj --coff-imports "$1" | awk '/^  Name: /{dll=$2} /Symbol: /{print dll "!" $2}' | sort -u
}
kmdf_imports=$(imports_of "$kmdf")
wdm_imports=$(imports_of "$wdm")

loader=$(grep '^WDFLDR.SYS!' <<<"$kmdf_imports" | tr '\n' ' ')
[ "$loader" = "WDFLDR.SYS!WdfVersionBind WDFLDR.SYS!WdfVersionUnbind " ] ||
    die "$kmdf: imports from WDFLDR.SYS should be exactly WdfVersionBind and WdfVersionUnbind, not: $loader"

others=$(grep -v '^WDFLDR.SYS!' <<<"$kmdf_imports")
extra=$(comm -23 <(sort -u <<<"$others") <(sort -u <<<"$wdm_imports"))
[ -z "$extra" ] || die "$kmdf imports what the WDM driver does not (unchecked against a kernel): $(tr '\n' ' ' <<<"$extra")"
dlls=$(cut -d! -f1 <<<"$kmdf_imports" | sort -u | tr '\n' ' ')
say "KMDF image: subsystem NATIVE, integrity check, entry point FxDriverEntry; imports $(wc -l <<<"$kmdf_imports") functions from ${dlls}(WDFLDR.SYS: WdfVersionBind, WdfVersionUnbind; the rest all made by the WDM image too)"
