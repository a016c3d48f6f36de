//! The fuzz target's operation sequences (`fuzz/fuzz_targets/ops.rs`), as a seeded proptest
//! on stable so CI covers them: random bytes decoded by `arbitrary` into `Op`s, exactly as
//! libFuzzer's input is.

mod support;

use proptest::prelude::*;
use support::ops::{decode, run};

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn operation_sequences_keep_the_books(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        run(&decode(&bytes));
    }
}

/// Found by the fuzzer: a cancelled in-place send delivered its visible bytes into a waiting
/// recv, which woke the same writer again while the send was half moved, and its bytes were
/// delivered twice.
#[test]
fn regression_cancel_in_place_send_into_waiting_recvs() {
    use support::ops::Op;
    run(&[
        Op::SocketPair {
            a: 0,
            b: 3,
            kind: 0,
        },
        Op::SendInPlace { s: 3, len: 28544 },
        Op::SendInPlace { s: 0, len: 31360 },
        Op::Recv {
            s: 3,
            len: 41726,
            peek: false,
            waitall: false,
            dontwait: false,
        },
        Op::RecvInPlace {
            s: 3,
            len: 39321,
            waitall: true,
        },
        Op::RecvInPlace {
            s: 3,
            len: 39321,
            waitall: true,
        },
        Op::RecvInPlace {
            s: 3,
            len: 39321,
            waitall: true,
        },
        Op::RecvInPlace {
            s: 3,
            len: 39321,
            waitall: true,
        },
        Op::Cancel { nth: 190 },
    ]);
}
