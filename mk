#!/usr/bin/env bash
# The one entry point on a fresh Debian machine:
#
#   ./mk        set everything up, then run the main job (build, sign, package, install the
#               driver under Wine and show its status)
#   ./mk ci     set everything up, then run every test
#   ./mk TASK   any other `cargo make` task (see Makefile.toml)
#
# It installs only what is missing: Rust (rustup) if there is no cargo, then cargo-make;
# `cargo make setup` (run first by both tasks) adds the Windows targets and Debian packages.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] || {
        echo "==> installing Rust with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
    }
    export PATH=$HOME/.cargo/bin:$PATH
fi
if ! cargo make --version >/dev/null 2>&1; then
    echo "==> installing cargo-make (about 3 minutes, once)"
    cargo install cargo-make --locked
fi
exec cargo make "${@:-default}"
