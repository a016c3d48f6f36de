//! Property test: a socketpair against a simple model (two byte queues, shutdown flags and a
//! pending reset), over random sends, receives, peeks, shutdowns and one close.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::fixtures::*;
use crate::*;

#[derive(Clone, Debug)]
enum M {
    Send {
        from_a: bool,
        len: usize,
    },
    Recv {
        at_a: bool,
        len: usize,
        peek: bool,
        waitall: bool,
    },
    Shut {
        a: bool,
        how: u8,
    },
    CloseA,
    Fionread {
        at_a: bool,
    },
}

fn op() -> impl Strategy<Value = M> {
    prop_oneof![
        4 => (any::<bool>(), 0usize..3000).prop_map(|(from_a, len)| M::Send { from_a, len }),
        4 => (any::<bool>(), 0usize..3000, any::<bool>(), any::<bool>())
            .prop_map(|(at_a, len, peek, waitall)| M::Recv { at_a, len, peek, waitall }),
        1 => (any::<bool>(), 0u8..3).prop_map(|(a, how)| M::Shut { a, how }),
        1 => Just(M::CloseA),
        1 => any::<bool>().prop_map(|at_a| M::Fionread { at_a }),
    ]
}

#[derive(Default)]
struct Side {
    queue: VecDeque<u8>,
    rd: bool,
    wr: bool,
    err: bool,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn socketpair_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut fx = Fx::with(Limits { sndbuf_default: 8192, ..Limits::default() });
        let (a, b) = fx.pair();
        fx.e.set_nonblocking(a, true).unwrap();
        fx.e.set_nonblocking(b, true).unwrap();
        // model[0] is a's receive side, model[1] b's.
        let mut model = [Side::default(), Side::default()];
        let mut a_open = true;
        let mut counter = 0u8;
        for op in ops {
            match op {
                M::Send { from_a, len } => {
                    if from_a && !a_open { continue; }
                    let (me, peer) = if from_a { (0, 1) } else { (1, 0) };
                    let data: Vec<u8> = (0..len).map(|_| { counter = counter.wrapping_add(1); counter }).collect();
                    let got = fx.send(if from_a { a } else { b }, &data);
                    let expect = if model[me].wr {
                        Err(Errno::EPIPE)
                    } else if len == 0 {
                        Ok(0)
                    } else {
                        let room = 8192usize.saturating_sub(model[peer].queue.len());
                        if room == 0 { Err(Errno::EAGAIN) } else { Ok(room.min(len)) }
                    };
                    prop_assert_eq!(got, expect);
                    if let Ok(n) = got {
                        model[peer].queue.extend(&data[..n]);
                    } else {
                        counter = counter.wrapping_sub(len as u8);
                    }
                }
                M::Recv { at_a, len, peek, waitall } => {
                    if at_a && !a_open { continue; }
                    let me = if at_a { 0 } else { 1 };
                    let flags = RecvFlags { peek, waitall, dontwait: true , overlapped: false, trunc: false, rights_room: 0 };
                    let got = fx.recv_flags(if at_a { a } else { b }, len, flags);
                    let side = &mut model[me];
                    let n = len.min(side.queue.len());
                    let expect = if n > 0 || (len == 0 && !side.queue.is_empty()) {
                        Ok(side.queue.iter().take(n).copied().collect::<Vec<u8>>())
                    } else if side.err {
                        side.err = false;
                        Err(Errno::ECONNRESET)
                    } else if side.rd {
                        Ok(vec![])
                    } else {
                        Err(Errno::EAGAIN)
                    };
                    // Non-blocking MSG_WAITALL with a partial read consumes the pending error.
                    if waitall && !peek && n > 0 && n < len { side.err = false; }
                    if !peek { if let Ok(v) = &expect { side.queue.drain(..v.len()); } }
                    prop_assert_eq!(got, expect);
                }
                M::Shut { a: on_a, how } => {
                    if on_a && !a_open { continue; }
                    let (me, peer) = if on_a { (0, 1) } else { (1, 0) };
                    fx.e.shutdown(if on_a { a } else { b }, Shutdown::from_how(i32::from(how)).unwrap()).unwrap();
                    let (rd, wr) = (how != 1, how != 0);
                    model[me].rd |= rd; model[me].wr |= wr;
                    if a_open { model[peer].rd |= wr; model[peer].wr |= rd; }
                }
                M::CloseA => {
                    if !a_open { continue; }
                    a_open = false;
                    let unread = !model[0].queue.is_empty();
                    fx.e.close(a).unwrap();
                    model[0] = Side::default();
                    model[1].rd = true; model[1].wr = true;
                    if unread { model[1].err = true; }
                }
                M::Fionread { at_a } => {
                    if at_a && !a_open { continue; }
                    let me = if at_a { 0 } else { 1 };
                    prop_assert_eq!(fx.e.fionread(if at_a { a } else { b }), Ok(model[me].queue.len()));
                }
            }
            let poll_b = fx.e.poll(b).unwrap();
            prop_assert_eq!(poll_b.contains(PollMask::IN), !model[1].queue.is_empty() || model[1].rd);
            prop_assert_eq!(poll_b.contains(PollMask::ERR), model[1].err);
            prop_assert_eq!(poll_b.contains(PollMask::HUP), model[1].rd && model[1].wr);
        }
    }
}
