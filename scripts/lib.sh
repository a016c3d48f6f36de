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

# indent: the output of a program, indented under the step that ran it, line by line as it
# comes (sed -u: a pipe to cargo-make or tee must not hold lines back until the end).
indent() {
    sed -u 's/^/    | /'
}

# step TEXT: the next numbered step of a long script, with the time since it started:
# "==> [3/14 1:05] TEXT". The total is the number of lines starting with `step ` in the
# script itself.
STEP_NUMBER=0
STEP_START=$SECONDS
step() {
    if [ -z "${STEP_TOTAL:-}" ]; then
        STEP_TOTAL=$(grep -c '^step ' "$0" || true)
    fi
    STEP_NUMBER=$((STEP_NUMBER + 1))
    local elapsed=$((SECONDS - STEP_START))
    printf '==> [%d/%d %d:%02d] %s\n' "$STEP_NUMBER" "$STEP_TOTAL" $((elapsed / 60)) $((elapsed % 60)) "$*"
}
