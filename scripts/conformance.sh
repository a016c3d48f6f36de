#!/usr/bin/env bash
# The conformance suite on this Linux host: each seeded scenario (stream, datagram and
# seqpacket sockets) runs on the kernel's own AF_UNIX and on the engine (through the afunix
# library, its wire format and the device layer, and directly), and every step's result is
# compared. The trace it records is what the Wine run replays through the driver.
# Then passing objects (SCM_RIGHTS) on datagram and seqpacket sockets: 100,000 more seeds
# with sendmsg/recvmsg steps, memfds holding a marker on Linux (CONFORMANCE_RIGHTS_SEEDS).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
seeds=${CONFORMANCE_SEEDS:-1000}
mkdir -p "$TARGET_DIR/conformance"
cargo build --release -q -p usermode-test
"$TARGET_DIR/release/usermode-test" conformance --seeds "$seeds" --first-seed 0 \
    --record "$TARGET_DIR/conformance/trace.jsonl"
rights_seeds=${CONFORMANCE_RIGHTS_SEEDS:-100000}
say "conformance with SCM_RIGHTS steps: $rights_seeds seeds"
"$TARGET_DIR/release/usermode-test" conformance --rights --seeds "$rights_seeds" --first-seed 0
