#!/usr/bin/env bash
# Checks the driver image: native subsystem, imports from ntoskrnl.exe (or hal.dll) and, for
# its one cryptographic random source (BCryptGenRandom), cng.sys only, and every imported
# function really implemented by the installed Wine (a forwarded export followed to its target).
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
    ntoskrnl.exe | hal.dll | cng.sys) ;;
    *) die "$sys imports from $dll: a driver may import only ntoskrnl.exe, hal.dll and cng.sys (BCryptGenRandom)" ;;
    esac
done

wine_dir=
for dir in /usr/lib/x86_64-linux-gnu/wine/x86_64-windows /usr/lib/wine/x86_64-windows /usr/lib64/wine/x86_64-windows /opt/wine-stable/lib/wine/x86_64-windows; do
    [ -f "$dir/ntoskrnl.exe" ] && wine_dir=$dir && break
done
[ -n "$wine_dir" ] || die "cannot find Wine's x86_64 ntoskrnl.exe"

# Per Wine module: its exports, its stubs, and its forwarders ("name target.name"), read once.
declare -A exports stubs forwards
load() {
    local image=$wine_dir/$1
    [ -n "${exports[$1]+x}" ] && return 0
    [ -f "$image" ] || return 1
    exports[$1]=$(llvm-readobj --coff-exports "$image" | awk '/Name: /{print $2}' | sort -u)
    stubs[$1]=$(x86_64-w64-mingw32-objdump -t "$image" | grep -o '__wine_stub_[A-Za-z0-9_]*' |
        sed 's/^__wine_stub_//' | sort -u)
    forwards[$1]=$(x86_64-w64-mingw32-objdump -p "$image" |
        awk '/Forwarder RVA --/{split($NF, f, "."); print f[2], $NF}')
}

# implemented MODULE NAME: whether Wine's MODULE exports NAME as real code, following an
# export forwarded to another module (Wine's cng.sys forwards BCryptGenRandom to bcrypt.dll).
implemented() {
    local module=$1 name=$2 depth=${3:-0} forward
    load "$module" || { printf '  MISSING in Wine: %s (no %s)\n' "$name" "$module"; return 1; }
    if ! grep -qx "$name" <<<"${exports[$module]}"; then
        printf '  MISSING in Wine: %s!%s\n' "$module" "$name"
        return 1
    fi
    if grep -qx "$name" <<<"${stubs[$module]}"; then
        printf '  STUB in Wine:    %s!%s\n' "$module" "$name"
        return 1
    fi
    forward=$(awk -v n="$name" '$1 == n {print $2; exit}' <<<"${forwards[$module]}")
    if [ -n "$forward" ]; then
        [ "$depth" -lt 3 ] || { printf '  FORWARD LOOP in Wine: %s!%s\n' "$module" "$name"; return 1; }
        implemented "${forward%%.*}.dll" "${forward#*.}" $((depth + 1))
    fi
}

# Imports, as "module name" lines.
used=$(awk '/^  Name: /{dll=$2} /Symbol: /{print dll, $2}' <<<"$imports" | sort -u)
bad=0
count=0
while read -r dll name; do
    [ -n "$name" ] || continue
    count=$((count + 1))
    implemented "$dll" "$name" || bad=1
done <<<"$used"
[ "$bad" -eq 0 ] || die "the driver imports functions that Wine ($wine_dir) does not implement"
say "driver imports: $count functions, from $(tr '\n' ' ' <<<"$dlls")all implemented by $(wine --version) (none of ntoskrnl's $(wc -l <<<"${stubs[ntoskrnl.exe]}") stubs); subsystem NATIVE"
