#!/usr/bin/env bash
# Checks the driver image: native subsystem, imports from ntoskrnl.exe (or hal.dll) only, and
# every imported function really implemented by the installed Wine.
#
# Wine's ntoskrnl.exe exports ~1650 names, ~760 of them stubs; a stub (or a missing export)
# aborts winedevice.exe, with every driver in it, the first time it is called, long after the
# driver loaded fine. Wine's own image names its stubs (`__wine_stub_<name>` symbols), so
# this check turns that mystery into a build error.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
windows_ready "driver import check" || exit 0

sys=${1:-$PACKAGE_DIR/afunixrs.sys}
[ -f "$sys" ] || die "no driver image at $sys"

headers=$(llvm-readobj --file-headers "$sys")
grep -q 'Subsystem: IMAGE_SUBSYSTEM_NATIVE' <<<"$headers" || die "$sys: subsystem is not NATIVE"

imports=$(llvm-readobj --coff-imports "$sys")
dlls=$(awk '/^  Name: /{print $2}' <<<"$imports" | sort -u)
for dll in $dlls; do
    case "$dll" in
    ntoskrnl.exe | hal.dll) ;;
    *) die "$sys imports from $dll: a driver may import only ntoskrnl.exe and hal.dll" ;;
    esac
done

wine_ntoskrnl=
for dir in /usr/lib/x86_64-linux-gnu/wine/x86_64-windows /usr/lib/wine/x86_64-windows /usr/lib64/wine/x86_64-windows /opt/wine-stable/lib/wine/x86_64-windows; do
    [ -f "$dir/ntoskrnl.exe" ] && wine_ntoskrnl=$dir/ntoskrnl.exe && break
done
[ -n "$wine_ntoskrnl" ] || die "cannot find Wine's x86_64 ntoskrnl.exe"

exports=$(llvm-readobj --coff-exports "$wine_ntoskrnl" | awk '/Name: /{print $2}' | sort -u)
stubs=$(x86_64-w64-mingw32-objdump -t "$wine_ntoskrnl" | grep -o '__wine_stub_[A-Za-z0-9_]*' |
    sed 's/^__wine_stub_//' | sort -u)

# Imports of ntoskrnl.exe, by name.
used=$(awk '/^  Name: /{dll=$2} /Symbol: /{if (dll=="ntoskrnl.exe") print $2}' <<<"$imports" | sort -u)
bad=0
count=0
for name in $used; do
    count=$((count + 1))
    if ! grep -qx "$name" <<<"$exports"; then
        printf '  MISSING in Wine: %s\n' "$name"
        bad=1
    elif grep -qx "$name" <<<"$stubs"; then
        printf '  STUB in Wine:    %s\n' "$name"
        bad=1
    fi
done
[ "$bad" -eq 0 ] || die "the driver imports functions that Wine ($wine_ntoskrnl) does not implement"
say "driver imports: $count functions, all from ntoskrnl.exe, all implemented by $(wine --version) (none of its $(wc -l <<<"$stubs") stubs); subsystem NATIVE"
