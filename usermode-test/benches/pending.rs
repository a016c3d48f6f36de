//! Pending requests at scale (the security issue: "bounded cost per operation").
//!
//! `cargo bench -p usermode-test --bench pending` holds 1,000, 10,000 and 100,000 RECVs
//! pending on one socket of a connected pair, through the device layer the driver runs
//! (`afunix_device::Device`, the engine under it, and `OwnedBuffers` standing in for the
//! driver's table of pending IRPs), and measures at each level, per request:
//!
//! - insert: one more blocking RECV that pends;
//! - cancel: cancelling a pending RECV picked at random among all of them (CancelIoEx on
//!   one request in the middle of the queue);
//! - complete: a 1-byte SEND from the peer, which completes the oldest RECV, with the drain
//!   of that completion;
//! - close: closing the socket's file with all of them pending (a process exiting), per
//!   request it completes.
//!
//! Tokens are reused as the driver reuses IRP addresses: a token is free once its request
//! has completed, and the next request takes the most recently freed one.
//!
//! Every structure on this path costs the same per operation however many requests pend;
//! what still grows from 1,000 to 100,000 is the memory's: at 100,000 the tables, the queue's
//! nodes and the buffers hold tens of MB, past this machine's caches, and each request
//! touches several of them at random places.
//!
//! Options: `--quick` measures at 1,000 and 10,000 only; `--ops N` requests timed per
//! figure (default 2,000).

use std::time::Instant;

use afunix_device::{Credentials, Device, FileId, Limits, Op, OwnedBuffers, Reply, Token};
use afunix_proto::decode::MsgFlags;

/// Tokens look like IRP addresses: a pool address, then one IRP's size apart.
const BASE: u64 = 0xFFFF_A000_0000_0000;
const STRIDE: u64 = 0x1B0;

const READER: FileId = FileId(1);
const WRITER: FileId = FileId(2);

fn me() -> Credentials {
    Credentials {
        pid: 1,
        sid: vec![1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0],
        ..Credentials::default()
    }
}

/// A device with one connected pair and the requests pending on it.
struct Bench {
    device: Device,
    bufs: OwnedBuffers,
    caller: Credentials,
    /// Tokens free for reuse, most recently freed last (as IRP addresses come back).
    free: Vec<Token>,
    next: u64,
    /// Tokens of the RECVs now pending, for picking one to cancel.
    pending: Vec<Token>,
    /// Where each token sits in `pending`, by token number (see `Bench::number`), for the
    /// harness's own constant-time removal.
    at: Vec<usize>,
    rng: u64,
}

impl Bench {
    fn new() -> Bench {
        // The driver's limits, but room for the 100,000 pending requests measured: the
        // driver caps them at 16,384 (a quarter of that per user), and what is measured here is
        // the cost of the structures at any size.
        let limits = Limits {
            max_sockets: 16,
            max_pending: 1 << 20,
            max_locked_bytes: usize::MAX,
            user_share: afunix_core::UserShare { divisor: 1 },
            ..afunix_device::driver_limits()
        };
        let mut b = Bench {
            device: Device::new(limits),
            bufs: OwnedBuffers::new(),
            caller: me(),
            free: Vec::new(),
            next: 0,
            pending: Vec::new(),
            at: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
        };
        for f in [READER, WRITER] {
            b.device.open(f).unwrap();
            let t = b.token();
            let r = b.device.execute(
                f,
                t,
                Op::Socket {
                    sock_type: 1,
                    nonblocking: false,
                },
                &b.caller,
                &mut b.bufs,
            );
            assert!(matches!(r, Reply::Ready(Ok(_))));
            b.free.push(t);
        }
        let t = b.token();
        let r = b.device.execute(
            READER,
            t,
            Op::SocketPair { other: WRITER },
            &b.caller,
            &mut b.bufs,
        );
        assert!(matches!(r, Reply::Ready(Ok(_))));
        b.free.push(t);
        b
    }

    /// A token: the most recently freed, else a new IRP-like address.
    fn token(&mut self) -> Token {
        self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.at.push(usize::MAX);
            Token(BASE + self.next * STRIDE)
        })
    }

    /// A token's number: its index in `at`.
    fn number(t: Token) -> usize {
        ((t.0 - BASE) / STRIDE - 1) as usize
    }

    fn random(&mut self, n: usize) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % n as u64) as usize
    }

    fn pend_recv(&mut self) {
        let t = self.token();
        self.bufs.insert_recv(t, vec![0]).unwrap();
        let op = Op::Recv {
            flags: MsgFlags(0),
            len: 1,
            from: false,
        };
        let r = self
            .device
            .execute(READER, t, op, &self.caller, &mut self.bufs);
        assert_eq!(r, Reply::Pending);
        self.at[Self::number(t)] = self.pending.len();
        self.pending.push(t);
    }

    fn forget(&mut self, t: Token) {
        let i = std::mem::replace(&mut self.at[Self::number(t)], usize::MAX);
        if i != usize::MAX {
            let last = self.pending.pop().unwrap();
            if last != t {
                self.pending[i] = last;
                self.at[Self::number(last)] = i;
            }
        }
    }

    /// Takes every completion, giving its token and buffer back.
    fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(c) = self.device.poll_completion() {
            self.bufs.remove(c.token);
            self.forget(c.token);
            self.free.push(c.token);
            n += 1;
        }
        n
    }

    fn cancel_random(&mut self) {
        let i = self.random(self.pending.len());
        let t = self.pending[i];
        assert!(self.device.cancel(t, &mut self.bufs));
        assert_eq!(self.drain(), 1);
    }

    fn complete_oldest(&mut self) {
        let t = self.token();
        self.bufs.insert_send(t, vec![7]).unwrap();
        let op = Op::Send {
            flags: MsgFlags(0),
            len: 1,
            to: None,
        };
        let r = self
            .device
            .execute(WRITER, t, op, &self.caller, &mut self.bufs);
        assert!(matches!(r, Reply::Ready(Ok(_))));
        self.bufs.remove(t);
        self.free.push(t);
        assert_eq!(self.drain(), 1);
    }

    fn fill_to(&mut self, n: usize) {
        while self.pending.len() < n {
            self.pend_recv();
        }
    }
}

/// Nanoseconds per call of `f`, over `ops` calls.
fn per_op(ops: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..ops {
        f();
    }
    start.elapsed().as_nanos() as f64 / ops as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let ops: usize = args
        .iter()
        .position(|a| a == "--ops")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let levels: &[usize] = if quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    println!("# Pending requests: cost per request with N RECVs pending on one socket");
    println!("# (device layer + engine + OwnedBuffers; {ops} requests per figure)");
    println!();
    println!("| pending | insert ns | cancel ns | complete ns | close ns/request (total ms) |");
    println!("|---|---|---|---|---|");
    for &level in levels {
        let mut b = Bench::new();
        b.fill_to(level);
        let insert = per_op(ops, || b.pend_recv());
        let cancel = per_op(ops, || b.cancel_random());
        assert_eq!(b.pending.len(), level);
        // Each completes one of them: at most half, so the level stays near `level`.
        let complete = per_op(ops.min(level / 2), || b.complete_oldest());
        b.fill_to(level);
        let start = Instant::now();
        b.device.close(READER, &mut b.bufs);
        let completed = b.drain();
        let close = start.elapsed();
        assert_eq!(completed, level);
        println!(
            "| {level} | {insert:.0} | {cancel:.0} | {complete:.0} | {:.0} ({:.1}) |",
            close.as_nanos() as f64 / level as f64,
            close.as_secs_f64() * 1e3
        );
    }
}
