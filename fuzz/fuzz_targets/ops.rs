//! Fuzzes sequences of engine operations: `cargo +nightly fuzz run ops` (from `fuzz/`).
//!
//! Without cargo-fuzz installed, the same build by hand (what cargo-fuzz does):
//!
//! ```text
//! cd fuzz
//! RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
//!   -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions" \
//!   cargo +nightly build --release --bin ops --target x86_64-unknown-linux-gnu
//! ./target/x86_64-unknown-linux-gnu/release/ops corpus -max_total_time=300 -max_len=4096
//! ```
//!
//! The operations and the checks are shared with the stable proptest
//! `afunix-core/tests/fuzz_ops.rs`: no panic on any sequence, every pending token completed
//! exactly once, bytes in order, and an empty engine once every socket is closed.

#![no_main]

#[path = "../../afunix-core/tests/support/ops.rs"]
#[allow(dead_code)]
mod ops;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ops::run(&ops::decode(data));
});
