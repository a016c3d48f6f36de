#!/usr/bin/env bash
# Installs what the Windows stages need on a Debian machine, and records what it could not.
#
#   rustup targets  x86_64-pc-windows-msvc (the driver, linked by rust-lld)
#                   x86_64-pc-windows-gnu  (user-mode programs, linked by mingw)
#   Debian          mingw-w64, wine, wine64 (the test kernel), osslsigncode (signing),
#                   llvm (llvm-readobj, to inspect the driver image), openssl (test cert)
#
# Idempotent: installs only what is missing. Never fails the build for a missing piece:
# it writes the reason to target/setup-state, and each Windows stage prints SKIPPED.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

mkdir -p "$TARGET_DIR"
missing=()

for triple in "$DRIVER_TRIPLE" "$USER_TRIPLE"; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
        say "rustup target add $triple"
        rustup target add "$triple" || missing+=("rustup target $triple")
    fi
done

packages=(mingw-w64 wine wine64 osslsigncode llvm openssl)
need=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    say "apt-get install ${need[*]}"
    if ! { "${sudo[@]}" apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"; }; then
        missing+=("Debian packages ${need[*]}")
    fi
fi

for tool in x86_64-w64-mingw32-gcc wine osslsigncode llvm-readobj openssl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
# rustup's own lld links the driver: Debian's lld is too old for /KERNEL.
sysroot=$(rustc --print sysroot)
ls "$sysroot"/lib/rustlib/*/bin/rust-lld >/dev/null 2>&1 || missing+=("rust-lld (rustup's)")

if [ ${#missing[@]} -gt 0 ]; then
    reason="could not install: $(printf '%s, ' "${missing[@]}" | sed 's/, $//')"
    printf 'windows_missing=%s\n' "$reason" >"$SETUP_STATE"
    skip "Windows toolchain" "$reason; the Windows builds, signing and Wine stages will be skipped"
else
    printf 'windows_missing=\n' >"$SETUP_STATE"
    say "setup complete: Windows targets, mingw, Wine $(wine --version 2>/dev/null), osslsigncode, llvm-readobj"
fi
