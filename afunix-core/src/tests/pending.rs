//! Pending operations: tokens, completions, cancel, close.

use alloc::vec;

use super::fixtures::*;
use crate::*;

const BLOCK: SendFlags = SendFlags {
    dontwait: false,
    overlapped: false,
};

#[test]
fn blocked_send_resumes_once_queue_drains_to_a_quarter_unix_write_space() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    let sndbuf = fx.e.sndbuf(a).unwrap() as usize;
    let chunk = vec![7u8; 64];
    let mut sent = 0;
    let pending = loop {
        let t = fx.token();
        match fx.e.send(a, &chunk, BLOCK, t) {
            Outcome::Ready(r) => sent += r.unwrap(),
            Outcome::Pending => break t,
        }
    };
    assert_eq!(sent, sndbuf);
    assert!(fx.completions().is_empty());
    let mut read = 0;
    let mut done = None;
    while read < sndbuf {
        read += fx.recv(b, 64).unwrap().len();
        let c = fx.completions();
        if !c.is_empty() {
            done = Some((read, c));
            break;
        }
    }
    let (read_when_woken, c) = done.expect("pending send never completed");
    assert_eq!(read_when_woken, sndbuf - sndbuf / 4);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].token, pending);
    assert_eq!(c[0].result, Ok(Completed::Sent(64)));
    assert_eq!(fx.e.pending_count(), 0);
}

#[test]
fn big_send_into_pending_recv_keeps_flowing_wsk_receive_event() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    let total = 1 << 20;
    let data: alloc::vec::Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let mut got = alloc::vec::Vec::new();
    let rt = fx.token();
    let mut buf = vec![0u8; total];
    assert!(
        fx.e.recv(b, &mut buf, RecvFlags::default(), rt)
            .is_pending()
    );
    let st = fx.token();
    let mut send_done =
        matches!(fx.e.send(a, &data, BLOCK, st), Outcome::Ready(Ok(n)) if n == total);
    let mut rounds = 0;
    while got.len() < total {
        rounds += 1;
        assert!(rounds < 100, "no progress");
        for c in fx.completions() {
            match c.result {
                Ok(Completed::Received(n)) => got.extend_from_slice(&fx.e.received(c.token, n)),
                Ok(Completed::Sent(n)) => {
                    assert_eq!(n, total);
                    send_done = true;
                }
                other => panic!("{other:?}"),
            }
        }
        if got.len() < total {
            let t = fx.token();
            match fx.e.recv(b, &mut buf, RecvFlags::default(), t) {
                Outcome::Ready(r) => got.extend_from_slice(&buf[..r.unwrap()]),
                Outcome::Pending => {}
            }
        }
    }
    for c in fx.completions() {
        if c.result == Ok(Completed::Sent(total)) {
            send_done = true;
        }
    }
    assert!(send_done);
    assert_eq!(got, data);
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn cancel_waitall_recv_returns_the_bytes_it_gathered() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.send(a, b"part").unwrap();
    let t = fx.token();
    let mut buf = vec![0u8; 10];
    let flags = RecvFlags {
        waitall: true,
        ..RecvFlags::default()
    };
    assert!(fx.e.recv(b, &mut buf, flags, t).is_pending());
    assert_eq!(
        fx.e.fionread(b),
        Ok(0),
        "the bytes moved into the pending recv"
    );
    assert!(fx.e.cancel(t));
    assert!(!fx.e.cancel(t), "completed once");
    let c = fx.completions();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].result, Ok(Completed::Received(4)));
    assert_eq!(fx.e.received(t, 4), b"part");
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn waitall_recv_completes_when_full() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    let t = fx.token();
    let mut buf = vec![0u8; 6];
    let flags = RecvFlags {
        waitall: true,
        ..RecvFlags::default()
    };
    assert!(fx.e.recv(b, &mut buf, flags, t).is_pending());
    fx.send(a, b"abc").unwrap();
    assert!(fx.completions().is_empty());
    fx.send(a, b"defgh").unwrap();
    let c = fx.completions();
    assert_eq!(c[0].result, Ok(Completed::Received(6)));
    assert_eq!(fx.e.received(t, 6), b"abcdef");
    assert_eq!(fx.recv(b, 10), Ok(b"gh".to_vec()));
}

#[test]
fn pending_recv_sees_reset_then_eof_on_peer_close() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.send(b, b"unread by a").unwrap();
    let t = fx.token();
    let mut buf = vec![0u8; 4];
    assert!(fx.e.recv(b, &mut buf, RecvFlags::default(), t).is_pending());
    fx.e.close(a).unwrap();
    let done = fx.completions();
    // a left unread data: b's waiting recv sees the reset, then end of file.
    assert_eq!(
        (done[0].token, &done[0].result),
        (t, &Err(Errno::ECONNRESET))
    );
    assert_eq!(fx.recv(b, 4), Ok(vec![]));
}

#[test]
fn pending_send_gets_epipe_or_its_count_when_the_reader_leaves() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    let sndbuf = fx.e.sndbuf(a).unwrap() as usize;
    let t = fx.token();
    assert!(fx.e.send(a, &vec![3u8; sndbuf + 10], BLOCK, t).is_pending());
    let t2 = fx.token();
    assert!(
        fx.e.send(a, b"later", BLOCK, t2).is_pending(),
        "queued behind"
    );
    fx.e.close(b).unwrap();
    let done = fx.completions();
    // The first waiter consumes the reset but reports its count; the next gets EPIPE.
    assert_eq!(done[0].result, Ok(Completed::Sent(sndbuf)));
    assert_eq!(done[1].result, Err(Errno::EPIPE));
    assert_eq!(fx.e.take_error(a), Ok(None));
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn duplicate_tokens_are_rejected_and_close_cancels_everything() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    let mut buf = vec![0u8; 4];
    let t = fx.token();
    assert!(fx.e.recv(a, &mut buf, RecvFlags::default(), t).is_pending());
    assert_eq!(
        fx.e.recv(b, &mut buf, RecvFlags::default(), t),
        Outcome::Pending.ready_or(Errno::EINVAL)
    );
    let l = fx.listening(b"L", 0);
    let s = fx.e.socket().unwrap();
    let at = fx.token();
    assert!(fx.e.accept(l, s, at).is_pending());
    fx.e.close(s).unwrap();
    fx.e.close(a).unwrap();
    let done = fx.completions();
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|c| c.result == Err(Errno::ECANCELED)));
    assert_eq!(fx.e.pending_count(), 0);
}

trait ReadyOr {
    fn ready_or(self, e: Errno) -> Outcome<usize>;
}

impl ReadyOr for Outcome<usize> {
    fn ready_or(self, e: Errno) -> Outcome<usize> {
        let _ = self;
        Outcome::Ready(Err(e))
    }
}

/// Buffers for the in-place tests: one recv buffer and one send buffer.
struct TwoBuffers {
    send_token: Token,
    send: alloc::vec::Vec<u8>,
    recv_token: Token,
    recv: alloc::vec::Vec<u8>,
}

impl Buffers for TwoBuffers {
    fn write_recv(&mut self, token: Token, offset: usize, src: &[u8]) -> bool {
        token == self.recv_token
            && self
                .recv
                .get_mut(offset..offset + src.len())
                .map(|d| d.copy_from_slice(src))
                .is_some()
    }
    fn read_send(&mut self, token: Token, offset: usize, dst: &mut [u8]) -> bool {
        token == self.send_token
            && self
                .send
                .get(offset..offset + dst.len())
                .map(|s| dst.copy_from_slice(s))
                .is_some()
    }
    fn send_to_recv(&mut self, send: Token, so: usize, recv: Token, ro: usize, len: usize) -> bool {
        match (self.send.get(so..so + len), self.recv.get_mut(ro..ro + len)) {
            (Some(s), Some(d)) if send == self.send_token && recv == self.recv_token => {
                d.copy_from_slice(s);
                true
            }
            _ => false,
        }
    }
}

#[test]
fn in_place_send_and_recv_move_bytes_writer_to_reader() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.e.set_sndbuf(a, 0).unwrap(); // 4608 bytes
    let total = 20_000;
    let mut bufs = TwoBuffers {
        send_token: Token(1),
        send: (0..total).map(|i| (i % 251) as u8).collect(),
        recv_token: Token(2),
        recv: vec![0; total],
    };
    let o =
        fx.e.inner
            .send(a, total, SendFlags::default(), Token(1), &mut bufs);
    assert!(o.is_pending(), "more than SO_SNDBUF");
    // Nothing was copied: a buffer's worth counts as queued from the writer's buffer.
    assert_eq!(fx.e.fionread(b), Ok(4608));
    assert_eq!(fx.e.memory_used(), 0);
    assert!(fx.e.poll(b).unwrap().contains(PollMask::IN));
    assert!(!fx.e.poll(a).unwrap().contains(PollMask::OUT));

    let flags = RecvFlags {
        waitall: true,
        ..RecvFlags::default()
    };
    let o = fx.e.inner.recv(b, total, flags, Token(2), &mut bufs);
    // The queue, then straight from the waiting writer: all of it at once.
    assert_eq!(o, Outcome::Ready(Ok(total)));
    assert_eq!(bufs.recv, bufs.send);
    let done = fx.completions();
    assert_eq!(done[0].result, Ok(Completed::Sent(total)));
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn in_place_pending_recv_is_filled_directly() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    let mut bufs = TwoBuffers {
        send_token: Token(9),
        send: vec![],
        recv_token: Token(2),
        recv: vec![0; 8],
    };
    assert!(
        fx.e.inner
            .recv(b, 8, RecvFlags::default(), Token(2), &mut bufs)
            .is_pending()
    );
    let t = fx.token();
    let o = fx.e.inner.send(a, 0, SendFlags::default(), t, &mut bufs);
    assert_eq!(o, Outcome::Ready(Ok(0)));
    // An owned send into an in-place recv needs the caller's buffers to land.
    let mut bufs2 = TwoBuffers {
        send_token: Token(3),
        send: b"xyz".to_vec(),
        recv_token: Token(2),
        recv: vec![0; 8],
    };
    let o =
        fx.e.inner
            .send(a, 3, SendFlags::default(), Token(3), &mut bufs2);
    assert_eq!(o, Outcome::Ready(Ok(3)));
    assert_eq!(&bufs2.recv[..3], b"xyz");
    let done = fx.completions();
    assert_eq!(done[0].result, Ok(Completed::Received(3)));
    let _ = bufs;
}

#[test]
fn in_place_recv_waits_when_a_call_cannot_reach_its_buffer() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    let mut bufs = TwoBuffers {
        send_token: Token(9),
        send: vec![],
        recv_token: Token(2),
        recv: vec![0; 8],
    };
    assert!(
        fx.e.inner
            .recv(b, 8, RecvFlags::default(), Token(2), &mut bufs)
            .is_pending()
    );
    // A plain send passes no buffers: the bytes wait in the queue, the recv keeps waiting.
    assert_eq!(fx.send(a, b"abc"), Ok(3));
    assert!(fx.completions().is_empty());
    assert_eq!(fx.e.fionread(b), Ok(3));
    assert!(fx.e.cancel(Token(2)));
    assert_eq!(fx.completions()[0].result, Err(Errno::ECANCELED));
    assert_eq!(fx.recv(b, 8), Ok(b"abc".to_vec()), "nothing lost");
}

#[test]
fn cancelled_in_place_send_delivers_what_its_reader_could_see() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.e.set_sndbuf(a, 0).unwrap(); // 4608 bytes
    let total = 10_000;
    let mut bufs = TwoBuffers {
        send_token: Token(1),
        send: (0..total).map(|i| (i % 251) as u8).collect(),
        recv_token: Token(2),
        recv: vec![0; 100],
    };
    assert!(
        fx.e.inner
            .send(a, total, SendFlags::default(), Token(1), &mut bufs)
            .is_pending()
    );
    // A peek sees the held bytes without taking them.
    let o = fx.e.inner.recv(
        b,
        100,
        RecvFlags {
            peek: true,
            ..RecvFlags::default()
        },
        Token(2),
        &mut bufs,
    );
    assert_eq!(o, Outcome::Ready(Ok(100)));
    assert_eq!(&bufs.recv[..], &bufs.send[..100]);
    assert!(fx.e.inner.cancel(Token(1), &mut bufs));
    assert_eq!(fx.completions()[0].result, Ok(Completed::Sent(4608)));
    let got = fx.recv(b, total).unwrap();
    assert_eq!(
        got,
        bufs.send[..4608].to_vec(),
        "exactly what was reported sent"
    );
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn closing_a_reader_with_held_bytes_resets_the_writer() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    let mut bufs = TwoBuffers {
        send_token: Token(1),
        send: vec![5; 300_000],
        recv_token: Token(2),
        recv: vec![],
    };
    assert!(
        fx.e.inner
            .send(a, 300_000, SendFlags::default(), Token(1), &mut bufs)
            .is_pending()
    );
    fx.e.close(b).unwrap();
    let done = fx.completions();
    // The held bytes counted as queued: the send reports them (the reset is consumed).
    assert_eq!(done[0].result, Ok(Completed::Sent(212_992)));
    assert_eq!(fx.e.take_error(a), Ok(None));
    assert_eq!(fx.send(a, b"x"), Err(Errno::EPIPE));
}

#[test]
fn overlapped_requests_wait_on_a_non_blocking_socket_and_dontwait_still_wins() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.e.set_nonblocking(b, true).unwrap();
    let mut buf = vec![0u8; 8];
    let plain = fx.token();
    assert_eq!(
        fx.e.recv(b, &mut buf, RecvFlags::default(), plain),
        Outcome::Ready(Err(Errno::EAGAIN)),
        "a plain recv on a non-blocking socket does not wait"
    );
    let dontwait = RecvFlags {
        overlapped: true,
        dontwait: true,
        ..RecvFlags::default()
    };
    let t = fx.token();
    assert_eq!(
        fx.e.recv(b, &mut buf, dontwait, t),
        Outcome::Ready(Err(Errno::EAGAIN))
    );
    let overlapped = RecvFlags {
        overlapped: true,
        ..RecvFlags::default()
    };
    let t = fx.token();
    assert!(fx.e.recv(b, &mut buf, overlapped, t).is_pending());
    fx.send(a, b"late").unwrap();
    let c = fx.completions();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].token, t);
    assert_eq!(c[0].result, Ok(Completed::Received(4)));
    assert_eq!(fx.e.received(t, 4), b"late");
}

/// The driver names requests by IRP address, and the I/O manager hands a freed IRP to the
/// next request at once: a token the engine kept past its request's end would reach the
/// new one.
#[test]
fn a_token_reused_after_cancel_names_only_its_new_request() {
    let mut fx = Fx::new();
    let (a1, b1) = fx.pair();
    let (a2, b2) = fx.pair();
    let mut buf = [0u8; 4];
    let t = fx.token();
    assert!(
        fx.e.recv(a1, &mut buf, RecvFlags::default(), t)
            .is_pending()
    );
    assert!(fx.e.cancel(t));
    let done = fx.completions();
    assert_eq!(done[0].token, t);
    assert_eq!(done[0].result, Err(Errno::ECANCELED));
    // The next request gets the same token: a recv on the other pair.
    let again = fx.token();
    assert_eq!(again, t);
    assert!(
        fx.e.recv(a2, &mut buf, RecvFlags::default(), t)
            .is_pending()
    );
    // Bytes for the cancelled recv's socket stay queued there; the new request gets none.
    assert_eq!(fx.send(b1, b"old"), Ok(3));
    assert!(fx.completions().is_empty());
    assert_eq!(fx.e.fionread(a1), Ok(3));
    assert_eq!(fx.e.bufs.get(t), Some(&[0u8; 4][..]));
    // Its own socket's bytes complete it.
    assert_eq!(fx.send(b2, b"new"), Ok(3));
    let done = fx.completions();
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].token, done[0].socket), (t, a2));
    assert_eq!(done[0].result, Ok(Completed::Received(3)));
    assert_eq!(fx.e.received(t, 3), b"new");
    assert_eq!(fx.recv(a1, 8), Ok(b"old".to_vec()));
    // A token that completed is not pending: cancelling it finds nothing.
    assert!(!fx.e.cancel(t));
}

/// A SEND's buffer records that it may not be written (the driver locks a SEND's pages for
/// reading only): a recv handed such a buffer (as a stale token would hand it) fails with
/// EFAULT and writes nothing, and the bytes stay queued for the next recv.
#[test]
fn the_engine_cannot_write_into_a_send_buffer() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    assert_eq!(fx.send(b, b"data"), Ok(4));
    let t = fx.token();
    fx.e.bufs.insert_send(t, b"SEND".to_vec()).unwrap();
    let flags = RecvFlags {
        dontwait: true,
        ..RecvFlags::default()
    };
    let o = fx.e.inner.recv(a, 4, flags, t, &mut fx.e.bufs);
    assert_eq!(o, Outcome::Ready(Err(Errno::EFAULT)));
    assert_eq!(
        fx.e.bufs.get(t),
        Some(&b"SEND"[..]),
        "the send's bytes unchanged"
    );
    assert_eq!(fx.recv(a, 8), Ok(b"data".to_vec()), "nothing lost");

    // Pending: a recv whose buffer is a send's takes nothing, directly or from the queue.
    let o =
        fx.e.inner
            .recv(a, 4, RecvFlags::default(), t, &mut fx.e.bufs);
    assert!(o.is_pending());
    assert_eq!(fx.send(b, b"xy"), Ok(2));
    assert!(fx.completions().is_empty());
    assert_eq!(fx.e.bufs.get(t), Some(&b"SEND"[..]));
    assert_eq!(fx.e.fionread(a), Ok(2));
    assert!(fx.e.cancel(t));
    assert_eq!(fx.completions()[0].result, Err(Errno::ECANCELED));
    assert_eq!(fx.recv(a, 8), Ok(b"xy".to_vec()));
}
