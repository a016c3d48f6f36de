//! Seeded random scenarios.
//!
//! The generator drives an engine backend while it generates, so it knows the topology
//! (which slot is connected to which) and the queue lengths, and keeps every scenario inside
//! what is genuinely comparable with Linux (the [`Guard`] rules). The same rules validate
//! shrunk scenarios, so a reproducer never diverges for a reason the rules exclude.

use super::backend::{Backend, Runner};
use super::engine_backend::EngineBackend;
use super::scenario::{Addr, Names, Op, PathForm, SLOTS, SockOpt};

/// splitmix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p` percent.
    pub fn chance(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items[i.min(items.len() - 1)]
    }
}

/// Most bytes queued toward one receiver in ordinary steps. Linux's POLLOUT rule
/// (`unix_writable`: wmem_alloc * 4 <= sk_sndbuf) counts skb truesize, which is payload plus
/// several hundred bytes to a few KiB per send; the engine counts payload. Keeping queues this
/// small (and SO_SNDBUF at least 128 KiB) keeps both well under the threshold, so POLLOUT is
/// compared exactly. `Fill` covers the full-buffer paths.
const MAX_QUEUED: usize = 4096;
/// Most sends queued toward one receiver in ordinary steps (see `MAX_QUEUED`).
const MAX_MESSAGES: u32 = 6;

/// The comparability rules.
#[derive(Debug, Default, Clone)]
pub struct Guard {
    /// Slots whose receive queue was filled by `Fill`: Linux and the engine hold different
    /// byte counts there, so only `Drain` (which does not compare the count) may read it.
    filled: [bool; SLOTS],
    /// Sends from this slot since its peer's queue was last empty.
    messages: [u32; SLOTS],
}

fn slot(s: u8) -> usize {
    usize::from(s) % SLOTS
}

impl Guard {
    fn peer_slot(r: &Runner<EngineBackend>, s: usize) -> Option<Option<usize>> {
        let b = &r.backend;
        let id = b.id(s)?;
        let peer = b.engine.peer(id).ok().flatten()?;
        Some((0..SLOTS).find(|&t| b.id(t) == Some(peer)))
    }

    fn peer_queued(r: &Runner<EngineBackend>, s: usize) -> usize {
        let b = &r.backend;
        b.id(s)
            .and_then(|id| b.engine.peer(id).ok().flatten())
            .and_then(|p| b.engine.fionread(p).ok())
            .unwrap_or(0)
    }

    /// Whether `op` keeps the scenario comparable.
    #[must_use]
    pub fn allowed(&self, r: &Runner<EngineBackend>, op: &Op) -> bool {
        let filled = |s: u8| self.filled.get(slot(s)).copied().unwrap_or(false);
        match op {
            Op::Send { s, len } => {
                let s = slot(*s);
                if Self::peer_slot(r, s).is_none() {
                    return true; // not connected, or the peer is gone: an error either way
                }
                let queued = Self::peer_queued(r, s);
                let peer_filled = matches!(Self::peer_slot(r, s), Some(Some(p)) if self.filled[p]);
                peer_filled
                    || (queued + *len as usize <= MAX_QUEUED
                        && self.messages.get(s).copied().unwrap_or(0) < MAX_MESSAGES)
            }
            Op::Recv { s, .. } | Op::RecvFrom { s, .. } | Op::Fionread { s } => !filled(*s),
            // Filling toward an embryo would leave a filled queue no slot owns yet.
            Op::Fill { s } => !matches!(Self::peer_slot(r, slot(*s)), Some(None)),
            // A writer whose peer's queue was filled holds Linux's and the engine's different
            // byte counts (truesize against payload): a new SO_SNDBUF would flip POLLOUT at
            // different points, so it waits until that queue is drained.
            Op::SetOpt {
                s,
                opt: SockOpt::SndBuf,
                val,
            } => {
                let peer_filled =
                    matches!(Self::peer_slot(r, slot(*s)), Some(Some(p)) if self.filled[p]);
                (*val < 0 || *val >= 65536) && !peer_filled
            }
            // Accepting into a filled slot replaces it; fine. Everything else compares exactly.
            _ => true,
        }
    }

    /// Updates the rules' state after `op` ran on the engine runner.
    pub fn after(&mut self, r: &Runner<EngineBackend>, op: &Op) {
        match op {
            Op::Fill { s } => {
                if let Some(Some(p)) = Self::peer_slot(r, slot(*s)) {
                    self.filled[p] = true;
                }
            }
            Op::Send { s, .. } => {
                if let Some(m) = self.messages.get_mut(slot(*s)) {
                    *m += 1;
                }
            }
            Op::Drain { s } | Op::Close { s } | Op::Socket { s } => self.filled[slot(*s)] = false,
            // The runner rejects a == b (and l == into) without touching either slot.
            Op::SocketPair { a, b } if slot(*a) != slot(*b) => {
                self.filled[slot(*a)] = false;
                self.filled[slot(*b)] = false;
            }
            // The runner replaces `into` only when `l` is open (else EBADF first).
            Op::Accept { l, into } if slot(*l) != slot(*into) && r.backend.is_open(slot(*l)) => {
                self.filled[slot(*into)] = false;
            }
            _ => {}
        }
        for s in 0..SLOTS {
            if Self::peer_queued(r, s) == 0 {
                self.messages[s] = 0;
            }
        }
    }
}

/// Builds scenarios for seeds.
#[derive(Debug)]
pub struct Generator {
    rng: Rng,
}

impl Generator {
    /// For one seed.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
        }
    }

    fn open_slot(&mut self, r: &Runner<EngineBackend>) -> u8 {
        use super::backend::Backend;
        let open: Vec<u8> = (0..SLOTS as u8)
            .filter(|&s| r.backend.is_open(usize::from(s)))
            .collect();
        if !open.is_empty() && self.rng.chance(90) {
            self.rng.pick(&open)
        } else {
            self.any_slot()
        }
    }

    fn any_slot(&mut self) -> u8 {
        u8::try_from(self.rng.below(SLOTS as u64)).unwrap_or(0)
    }

    fn addr(&mut self, r: &Runner<EngineBackend>, for_bind: bool) -> Addr {
        let n = u8::try_from(self.rng.below(3)).unwrap_or(0);
        match self.rng.below(100) {
            0..=34 => Addr::Path {
                n,
                form: self.rng.pick(&[
                    PathForm::Plain,
                    PathForm::Plain,
                    PathForm::Plain,
                    PathForm::WithNul,
                    PathForm::NulThenJunk,
                    PathForm::Full108,
                    PathForm::Under,
                    PathForm::TrailingSlash,
                ]),
            },
            35..=69 => Addr::Abstract {
                n,
                trailing_nul: self.rng.chance(20),
            },
            70..=79 => {
                if for_bind {
                    Addr::Autobind
                } else {
                    Addr::NameOf {
                        s: self.open_slot(r),
                    }
                }
            }
            80..=91 => Addr::NameOf {
                s: self.open_slot(r),
            },
            92..=94 => Addr::Short {
                len: u8::try_from(self.rng.below(3)).unwrap_or(0),
            },
            95..=97 => Addr::BadFamily,
            _ => Addr::Oversize,
        }
    }

    fn op(&mut self, r: &Runner<EngineBackend>) -> Op {
        let s = self.open_slot(r);
        // Addresses on data calls, and the file system under bound names. `sendto` is rare:
        // Winsock ignores its address on a stream, so the replay through the provider stops
        // comparing a scenario at its first one.
        if self.rng.below(200) == 0 {
            return Op::SendTo {
                s,
                len: self.rng.pick(&[0, 1, 64]),
                addr: self.addr(r, false),
            };
        }
        if self.rng.chance(8) {
            let n = u8::try_from(self.rng.below(3)).unwrap_or(0);
            return match self.rng.below(3) {
                0 => Op::RecvFrom {
                    s,
                    len: self.rng.pick(&[0, 1, 5, 64, 500]),
                    peek: self.rng.chance(25),
                },
                1 => Op::Unlink { n },
                _ => Op::MakeFile { n },
            };
        }
        match self.rng.below(100) {
            0..=5 => Op::Socket { s: self.any_slot() },
            6..=10 => Op::SocketPair {
                a: self.any_slot(),
                b: self.any_slot(),
            },
            11..=18 => Op::Bind {
                s,
                addr: self.addr(r, true),
            },
            19..=24 => Op::Listen {
                s,
                backlog: self.rng.pick(&[0, 0, 1, 1, 2, 5, 128, -1, 100_000]),
            },
            25..=33 => Op::Connect {
                s,
                addr: self.addr(r, false),
            },
            34..=40 => Op::Accept {
                l: s,
                into: self.any_slot(),
            },
            41..=52 => Op::Send {
                s,
                len: self.rng.pick(&[0, 1, 7, 64, 300, 1000, 2048]),
            },
            53..=62 => Op::Recv {
                s,
                len: self.rng.pick(&[0, 1, 5, 64, 500, 4096]),
                peek: self.rng.chance(25),
                waitall: self.rng.chance(25),
            },
            63..=67 => Op::Shutdown {
                s,
                how: self.rng.pick(&[0, 1, 2, 2, 3, -1]),
            },
            68..=70 => Op::Close { s },
            71..=72 => Op::Recv {
                s,
                len: 64,
                peek: false,
                waitall: false,
            },
            73..=75 => Op::GetSockName { s },
            76..=78 => Op::GetPeerName { s },
            79..=80 => Op::Fionread { s },
            81..=83 => {
                if self.rng.chance(12) {
                    Op::GetLinger { s }
                } else {
                    Op::GetOpt {
                        s,
                        opt: self.rng.pick(&[
                            SockOpt::SndBuf,
                            SockOpt::RcvBuf,
                            SockOpt::Error,
                            SockOpt::Error,
                            SockOpt::Type,
                            SockOpt::Domain,
                            SockOpt::Protocol,
                            SockOpt::PassCred,
                            SockOpt::PassCred,
                            SockOpt::KeepAlive,
                            SockOpt::ReuseAddr,
                        ]),
                    }
                }
            }
            84..=85 => match self.rng.below(10) {
                0..=1 => Op::SetOpt {
                    s,
                    opt: SockOpt::SndBuf,
                    val: self.rng.pick(&[65536, 100_000, 262_144, 1 << 20, -1]),
                },
                2..=3 => Op::SetOpt {
                    s,
                    opt: SockOpt::RcvBuf,
                    val: self.rng.pick(&[0, 1, 1000, 65536, -1, i32::MAX, 1 << 30]),
                },
                // SO_PASSCRED most often: connect autobinds with it, even when it fails.
                4..=5 => Op::SetOpt {
                    s,
                    opt: SockOpt::PassCred,
                    val: self.rng.pick(&[1, 1, 1, 0, 5, -1]),
                },
                6 => Op::SetOpt {
                    s,
                    opt: self.rng.pick(&[SockOpt::KeepAlive, SockOpt::ReuseAddr]),
                    val: self.rng.pick(&[1, 0, 5, -1]),
                },
                7 => Op::SetOpt {
                    s,
                    opt: self.rng.pick(&[
                        SockOpt::Error,
                        SockOpt::Type,
                        SockOpt::Domain,
                        SockOpt::Protocol,
                    ]),
                    val: 1,
                },
                _ => Op::SetLinger {
                    s,
                    onoff: self.rng.pick(&[0, 1, 1, 2, -1]),
                    seconds: self.rng.pick(&[0, 1, 5, 60, 65535, 65536, i32::MAX, -1]),
                },
            },
            86..=93 => Op::Poll { s },
            94..=96 => Op::Fill { s },
            _ => Op::Drain { s },
        }
    }

    /// A scenario of 10 to 80 steps; `names` must be private to this call.
    pub fn scenario(&mut self, names: Names) -> Vec<Op> {
        let len = 10 + self.rng.below(71);
        let mut runner = Runner::new(
            EngineBackend::new(super::engine_backend::linux_limits()),
            names,
        );
        let mut guard = Guard::default();
        let mut ops = Vec::new();
        // Most scenarios start from a listener, a connected client, its accepted peer and a
        // socketpair, so the random steps reach connected states often.
        let mut prologue = Vec::new();
        if self.rng.chance(75) {
            let n = u8::try_from(self.rng.below(3)).unwrap_or(0);
            let addr = match self.rng.below(3) {
                0 => Addr::Path {
                    n,
                    form: PathForm::Plain,
                },
                1 => Addr::Abstract {
                    n,
                    trailing_nul: false,
                },
                _ => Addr::Autobind,
            };
            let target = if addr == Addr::Autobind {
                Addr::NameOf { s: 0 }
            } else {
                addr.clone()
            };
            prologue.extend([
                Op::Socket { s: 0 },
                Op::Bind { s: 0, addr },
                Op::Listen {
                    s: 0,
                    backlog: self.rng.pick(&[0, 1, 2, 5]),
                },
                Op::Socket { s: 1 },
            ]);
            // SO_PASSCRED on the listener (the accepted socket has it) or on the client
            // (connect autobinds it).
            for s in [0, 1] {
                if self.rng.chance(15) {
                    prologue.push(Op::SetOpt {
                        s,
                        opt: SockOpt::PassCred,
                        val: 1,
                    });
                }
            }
            prologue.extend([
                Op::Connect { s: 1, addr: target },
                Op::Accept { l: 0, into: 2 },
            ]);
            if self.rng.chance(50) {
                prologue.push(Op::SocketPair { a: 3, b: 4 });
            }
        }
        for op in prologue {
            let _ = runner.step(&op);
            guard.after(&runner, &op);
            ops.push(op);
        }
        for _ in 0..len {
            for _ in 0..20 {
                let op = self.op(&runner);
                if guard.allowed(&runner, &op) {
                    let _ = runner.step(&op);
                    guard.after(&runner, &op);
                    ops.push(op);
                    break;
                }
            }
        }
        ops
    }
}

/// Whether `ops` obeys the comparability rules (for shrinking).
#[must_use]
pub fn valid(ops: &[Op], names: Names) -> bool {
    let mut runner = Runner::new(
        EngineBackend::new(super::engine_backend::linux_limits()),
        names,
    );
    let mut guard = Guard::default();
    for op in ops {
        if !guard.allowed(&runner, op) {
            return false;
        }
        let _ = runner.step(op);
        guard.after(&runner, op);
    }
    true
}
