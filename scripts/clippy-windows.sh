#!/usr/bin/env bash
# clippy with -D warnings for the Windows targets: the driver for msvc (the only target it is
# built for), the user-mode crates for gnu (what we build) and msvc (what Windows developers
# build with).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
windows_ready "clippy for the Windows targets" || exit 0
cd "$ROOT"
say "clippy: drivers (WDM and KMDF), $DRIVER_TRIPLE"
cargo clippy --release -p afunix-drv -p afunixkm -p afunix-kernel -p afunix-ntos --target "$DRIVER_TRIPLE" -- -D warnings
for triple in "$USER_TRIPLE" "$DRIVER_TRIPLE"; do
    say "clippy: user mode, $triple"
    cargo clippy --release -p afunix -p afunix-wsp -p usermode-test -p afunix-proto -p afunix-core -p reparse \
        --lib --bins --target "$triple" -- -D warnings
done
