#!/usr/bin/env bash
# tokio's own tests of its Unix sockets, run against `afunix::tokio`: the test files that
# ship in the tokio crate this workspace builds with (cargo has them in its registry
# source), compiled in a scratch crate under target/ with only their `use` lines changed,
# `tokio::net::` to `afunix::tokio::` and std's `SocketAddr` to afunix's. Nothing of tokio's
# is copied into the repository. Runs on the host, over the in-process engine.
#
# Left out: uds_cred.rs, which compares `peer_cred()` with the process's uid and gid
# (Windows has no uid: afunix reports the pid and the user's SID), and uds_socket.rs, which
# builds sockets with tokio's `UnixSocket` (socket(2) step by step; afunix has `Net::socket`
# for that instead).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

version=$(awk '/^name = "tokio"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
[ -n "$version" ] || die "no tokio in Cargo.lock"
cargo fetch -q
registry=${CARGO_HOME:-$HOME/.cargo}/registry/src
tests=$(find "$registry" -maxdepth 2 -type d -name "tokio-$version" | head -n 1)/tests
[ -f "$tests/uds_stream.rs" ] || die "tokio $version's tests are not in $registry"

scratch=$TARGET_DIR/tokio-own-tests
rm -rf "$scratch/tests"
mkdir -p "$scratch/tests"
files=(uds_stream uds_split uds_datagram)
{
    cat <<TOML
[package]
name = "tokio-own-tests"
version = "0.0.0"
edition = "2021"
publish = false

# Not a member of the afunix-rs workspace.
[workspace]

[features]
# The tests are compiled only with tokio's "full" feature.
default = ["full"]
full = []

[dependencies]
afunix = { path = "$ROOT/afunix" }
tokio = { version = "=$version", features = ["full"] }
tokio-test = "0.4"
futures = "0.3"
tempfile = "3"
libc = "0.2"
TOML
    for f in "${files[@]}"; do
        printf '\n[[test]]\nname = "%s"\npath = "tests/%s.rs"\n' "$f" "$f"
    done
} >"$scratch/Cargo.toml"
for f in "${files[@]}"; do
    sed -e 's/^use tokio::net::/use afunix::tokio::/' \
        -e 's/^use std::os::unix::net::SocketAddr;/use afunix::SocketAddr;/' \
        "$tests/$f.rs" >"$scratch/tests/$f.rs"
    say "tokio $version tests/$f.rs: $(diff "$tests/$f.rs" "$scratch/tests/$f.rs" | grep -c '^>') line(s) changed, all of them \`use\` lines"
    ! diff "$tests/$f.rs" "$scratch/tests/$f.rs" | grep '^>' | grep -v '^> use ' ||
        die "a line other than a use line changed in $f.rs"
done
mkdir -p "$scratch/src"
: >"$scratch/src/lib.rs"
say "running tokio's tests against afunix::tokio"
CARGO_TARGET_DIR=$scratch/target timeout 600 cargo test -q --manifest-path "$scratch/Cargo.toml" 2>&1
