#!/usr/bin/env bash
# The one entry point on a fresh Debian machine:
#
#   ./mk        set everything up, then run the main job (build, sign, package, install the
#               driver under Wine through its INF and leave it RUNNING; its status comes last)
#   ./mk ci     set everything up, then run every test
#   ./mk run PROGRAM [ARGS...]
#               run a packaged program (afunixctl, usermode-test) under Wine, where the main
#               job left the driver running: `./mk run afunixctl status --json`
#   ./mk stop   stop and uninstall that driver and end its Wine session
#   ./mk TASK   any other `cargo make` task (see Makefile.toml)
#
# It installs only what is missing: Rust (rustup) if there is no cargo, then cargo-make;
# `cargo make setup` (run first by both tasks) adds the Windows targets and Debian packages.
set -euo pipefail
cd "$(dirname "$0")"

# `run` passes its arguments through untouched, and needs nothing built beyond the package.
if [ "${1:-}" = run ]; then
    shift
    exec bash scripts/wine-run.sh "$@"
fi

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
if [ $# -eq 0 ]; then
    # The main job, as `cargo make` (the default task) runs it, but with the driver's status
    # as the very last thing printed, after cargo-make's own summary of the package stage.
    cargo make package
    exec bash scripts/wine-start.sh
fi
exec cargo make "$@"
