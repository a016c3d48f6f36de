//! The conformance scenarios on the engine backend under an allocator that fails the N-th
//! allocation (issue 19).
//!
//! Each seed's scenario runs once to count the engine's allocations (the failing allocator
//! is armed around every backend call, and the backend's stand-ins for the host, its file
//! system and the caller's buffers, are left out), then once per chosen N failing that
//! allocation, and once per a quarter of them failing every allocation from the N-th on
//! (closing the sockets included). After each run:
//! - a call during which an allocation failed answered ENOBUFS or ENOMEM, or succeeded;
//! - every step before the first failure observed what the unfailed run observed, and
//!   every recv, before and after it, read the next bytes of its peer's stream (the
//!   runner compares them with the stream's pattern: a lost, repeated or reordered byte
//!   shows);
//! - once every socket is closed the engine holds no socket, binding, pending request,
//!   byte, reservation, locked buffer or user charge.

use super::backend::{Backend, FromOut, Res, Runner};
use super::engine_backend::{EngineBackend, linux_limits};
use super::scenario::{Obs, Op, SockOpt, SockTy};
use super::{fresh_names, generator};

use fault_alloc::{FaultAlloc, Plan, Rng};

#[global_allocator]
static ALLOC: FaultAlloc = FaultAlloc;

const ENOMEM: i32 = 12;
const ENOBUFS: i32 = 105;
const EAGAIN: i32 = 11;

/// The engine backend with the failing allocator armed around each engine-facing call.
struct Faulty {
    inner: EngineBackend,
    injected_calls: u64,
}

impl Faulty {
    fn armed<T>(&mut self, what: &str, f: impl FnOnce(&mut EngineBackend) -> Res<T>) -> Res<T> {
        let before = fault_alloc::failed();
        fault_alloc::arm();
        let r = f(&mut self.inner);
        fault_alloc::disarm();
        if fault_alloc::failed() != before {
            self.injected_calls += 1;
            if let Err(e) = &r {
                // A recv decides its answer before it lets the writer go on; a failure in
                // the writer's delivery then is the writer's, and the recv's EAGAIN stands.
                let writers = what.starts_with("recv") && *e == EAGAIN;
                assert!(
                    *e == ENOMEM || *e == ENOBUFS || writers,
                    "{what} answered errno {e} when an allocation failed"
                );
            }
        }
        r
    }
}

impl Backend for Faulty {
    fn is_open(&self, s: usize) -> bool {
        self.inner.is_open(s)
    }
    fn socket(&mut self, s: usize, ty: SockTy) -> Res<()> {
        self.armed("socket", |b| b.socket(s, ty))
    }
    fn socketpair(&mut self, a: usize, c: usize, ty: SockTy) -> Res<()> {
        self.armed("socketpair", |b| b.socketpair(a, c, ty))
    }
    fn bind(&mut self, s: usize, raw: &[u8]) -> Res<()> {
        self.armed("bind", |b| b.bind(s, raw))
    }
    fn listen(&mut self, s: usize, backlog: i32) -> Res<()> {
        self.armed("listen", |b| b.listen(s, backlog))
    }
    fn connect(&mut self, s: usize, raw: &[u8]) -> Res<()> {
        self.armed("connect", |b| b.connect(s, raw))
    }
    fn accept(&mut self, l: usize, into: usize) -> Res<()> {
        self.armed("accept", |b| b.accept(l, into))
    }
    fn send(&mut self, s: usize, data: &[u8]) -> Res<usize> {
        self.armed("send", |b| b.send(s, data))
    }
    fn recv(&mut self, s: usize, len: usize, peek: bool, waitall: bool) -> Res<Vec<u8>> {
        self.armed("recv", |b| b.recv(s, len, peek, waitall))
    }
    fn send_to(&mut self, s: usize, data: &[u8], raw: &[u8]) -> Res<usize> {
        self.armed("sendto", |b| b.send_to(s, data, raw))
    }
    fn recv_from(&mut self, s: usize, len: usize, peek: bool, trunc: bool) -> Res<FromOut> {
        self.armed("recvfrom", |b| b.recv_from(s, len, peek, trunc))
    }
    // The simulated file system is the host's, not the engine's: not armed.
    fn set_dir(&mut self, dir: &str) {
        self.inner.set_dir(dir);
    }
    fn unlink(&mut self, path: &std::path::Path) -> Res<()> {
        self.inner.unlink(path)
    }
    fn make_file(&mut self, path: &std::path::Path) -> Res<()> {
        self.inner.make_file(path)
    }
    fn shutdown(&mut self, s: usize, how: i32) -> Res<()> {
        self.armed("shutdown", |b| b.shutdown(s, how))
    }
    fn close(&mut self, s: usize) -> Res<()> {
        self.armed("close", |b| b.close(s))
    }
    fn name(&mut self, s: usize, peer: bool) -> Res<(usize, Vec<u8>)> {
        self.armed("name", |b| b.name(s, peer))
    }
    fn fionread(&mut self, s: usize) -> Res<i64> {
        self.armed("FIONREAD", |b| b.fionread(s))
    }
    fn getsockopt(&mut self, s: usize, opt: SockOpt) -> Res<i64> {
        self.armed("getsockopt", |b| b.getsockopt(s, opt))
    }
    fn setsockopt(&mut self, s: usize, opt: SockOpt, val: i32) -> Res<()> {
        self.armed("setsockopt", |b| b.setsockopt(s, opt, val))
    }
    fn linger(&mut self, s: usize) -> Res<(i32, i32)> {
        self.armed("SO_LINGER", |b| b.linger(s))
    }
    fn set_linger(&mut self, s: usize, onoff: i32, seconds: i32) -> Res<()> {
        self.armed("set SO_LINGER", |b| b.set_linger(s, onoff, seconds))
    }
    fn poll(&mut self, s: usize) -> Res<u32> {
        self.armed("poll", |b| b.poll(s))
    }
}

/// One run of `ops` under `plan`: what each step observed, the index of the first step
/// that met a failure, (allocations seen, failed, calls that met one).
fn run(
    ops: &[Op],
    names: &super::scenario::Names,
    plan: Plan,
) -> (Vec<Obs>, Option<usize>, (u64, u64, u64)) {
    fault_alloc::start(plan);
    let backend = Faulty {
        inner: EngineBackend::new(linux_limits()),
        injected_calls: 0,
    };
    let mut r = Runner::new(backend, names.clone());
    let mut obs = Vec::with_capacity(ops.len());
    let mut first = None;
    for (i, op) in ops.iter().enumerate() {
        let before = fault_alloc::failed();
        obs.push(r.step(op));
        if first.is_none() && fault_alloc::failed() != before {
            first = Some(i);
        }
    }
    let seen = fault_alloc::seen();
    // Closing runs under the plan too: with memory exhausted, close must still let go.
    r.close_all();
    let counts = (seen, fault_alloc::failed(), r.backend.injected_calls);
    fault_alloc::start(Plan::Count);
    let e = &r.backend.inner.engine;
    assert_eq!(e.socket_count(), 0, "sockets left");
    assert_eq!(e.binding_count(), 0, "bindings left");
    assert_eq!(e.pending_count(), 0, "requests left pending");
    assert_eq!(e.memory_used(), 0, "bytes still charged");
    assert_eq!(e.memory_reserved(), 0, "reservations left");
    assert_eq!(e.locked_bytes(), 0, "locked bytes left");
    assert_eq!(e.user_count(), 0, "a user still charged");
    assert_eq!(e.idle_ring_bytes(), 0, "idle ring memory still counted");
    (obs, first, counts)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn conformance_scenarios_survive_failed_allocations() {
    let seeds = env("AFUNIX_FAULT_SEEDS", 60);
    let sample = env("AFUNIX_FAULT_SAMPLE", 30);
    let mut rng = Rng::new(19);
    let (mut runs, mut injected, mut calls) = (0u64, 0u64, 0u64);
    for seed in 0..seeds {
        let names = fresh_names();
        let ops = generator::Generator::new(seed).scenario(names.clone());
        let (baseline, _, (total, _, _)) = run(&ops, &names, Plan::Count);
        let at = rng.choose(total, sample);
        let from = rng.choose(total, sample / 4);
        let plans = at
            .into_iter()
            .map(Plan::FailAt)
            .chain(from.into_iter().map(Plan::FailFrom));
        for plan in plans {
            let (obs, first, (_, f, c)) = run(&ops, &names, plan);
            let k = first.unwrap_or(obs.len());
            assert_eq!(
                obs[..k],
                baseline[..k],
                "seed {seed}, {plan:?}: steps before the failure changed"
            );
            for (i, o) in obs.iter().enumerate() {
                let in_order = match o {
                    Obs::Data { in_order, .. }
                    | Obs::DataFrom { in_order, .. }
                    | Obs::Drain { in_order, .. } => *in_order,
                    _ => true,
                };
                assert!(
                    in_order,
                    "seed {seed}, {plan:?}: step {i} read bytes out of order"
                );
            }
            runs += 1;
            injected += f;
            calls += c;
        }
    }
    println!(
        "conformance fault injection: {seeds} seeds, {runs} runs, {injected} allocations failed, in {calls} engine calls"
    );
    assert!(injected > 0);
}
