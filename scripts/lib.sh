# Shared by the scripts in this folder: paths, messages, and the Windows-stage gate.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")
PACKAGE_DIR=$TARGET_DIR/package
SETUP_STATE=$TARGET_DIR/setup-state
DRIVER_TRIPLE=x86_64-pc-windows-msvc
USER_TRIPLE=x86_64-pc-windows-gnu

say() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# skip STAGE REASON: print the loud line CI logs are searched for, and succeed.
skip() {
    printf '\n!!!!!!!!!!\nSKIPPED: %s: %s\n!!!!!!!!!!\n\n' "$1" "$2"
}

# windows_ready STAGE: true when setup found everything the Windows stages need; otherwise
# prints SKIPPED for STAGE (with setup's reason) and returns false.
windows_ready() {
    local stage=$1 reason
    if [ ! -f "$SETUP_STATE" ]; then
        skip "$stage" "setup has not run (run: cargo make setup)"
        return 1
    fi
    reason=$(sed -n 's/^windows_missing=//p' "$SETUP_STATE")
    if [ -n "$reason" ]; then
        skip "$stage" "$reason"
        return 1
    fi
    return 0
}
