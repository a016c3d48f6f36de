//! The conformance suite: the same scenarios on real Linux AF_UNIX sockets (stream, datagram
//! and seqpacket) and on the afunix-core engine (through the library, and directly), compared
//! step by step.
//!
//! - [`scenario`]: the language (operations over a few socket slots) and the observations.
//! - [`generator`]: seeded random scenarios, kept inside what is comparable.
//! - [`linux`] / [`engine_backend`]: the backends. [`backend::Runner`] runs one scenario.
//! - [`trace`]: JSON-lines traces, recorded and replayed.
//!
//! `usermode-test conformance --seeds N --first-seed S` runs seeds S..S+N-1 and prints the
//! coverage table, the divergences and a shrunk reproducer of the first one (`--record FILE`
//! writes the traces, `--replay FILE` runs a recorded trace again and compares).
//!
//! # What is compared, and the normalisations
//!
//! Every step's result is compared exactly (return value or errno, received byte counts, the
//! reported address and its length, poll bits, option values), except where Linux's numbers
//! come from its memory accounting rather than from AF_UNIX semantics:
//!
//! - **Bytes.** Every send writes a pattern derived from the stream position, so each
//!   backend checks by itself that received bytes are exactly the next ones (nothing lost,
//!   duplicated or reordered); comparing counts and that flag compares the bytes.
//! - **Full buffers.** Linux limits a sender by `sk_wmem_alloc` (skb *truesize*: payload plus
//!   per-skb overhead) against SO_SNDBUF; the engine limits payload bytes. So `Fill` (send until
//!   EAGAIN) compares only that both filled up and how it ended, and `Drain` compares only
//!   order and how it ended, not the counts. The generator's [`generator::Guard`] keeps
//!   ordinary steps away from a filled queue and keeps queues small (4 KiB, 6 sends) with
//!   SO_SNDBUF at least 128 KiB, so POLLOUT (`unix_writable`: wmem * 4 <= sndbuf) is compared
//!   exactly too. Shrinking applies the same rules.
//! - **Option values.** SO_SNDBUF / SO_RCVBUF are compared exactly: the engine implements
//!   `sock_setsockopt`'s doubling, clamping and minimums, and the engine backend is configured
//!   from this machine's `/proc/sys/net/core` limits (as the driver will be from its own).
//!   SO_DOMAIN, SO_PROTOCOL, SO_PASSCRED, SO_KEEPALIVE, SO_REUSEADDR and both fields of
//!   SO_LINGER are compared exactly too; a negative `l_linger` reads back as `LONG_MAX / HZ`
//!   truncated to an `int`, which the engine gives for `CONFIG_HZ=250`
//!   (`afunix_core::LINGER_FOREVER_SECONDS`), so a kernel built with another HZ differs there.
//!   Through the Winsock provider, `l_linger` is a `u_short` and SO_DOMAIN, SO_PROTOCOL and
//!   SO_PASSCRED do not exist: the replay compares what Winsock can say and stops comparing a
//!   scenario at its first step with one of those three, or with `sendto` (Winsock documents
//!   that a connection-oriented socket ignores its address); `recvfrom` is compared without
//!   the address, which Winsock ignores there too.
//!   Linux attaches the writer's credentials to an skb when either end has SO_PASSCRED (or
//!   the reader is an unaccepted embryo), and a reader with SO_PASSCRED never reads across
//!   skbs whose credentials differ (`unix_stream_read_generic`: "never glue messages from
//!   different writers"); the engine keeps runs of bytes with and without credentials
//!   (`CredRuns`), so a recv after SO_PASSCRED changed while bytes were queued is compared
//!   exactly too.
//! - **Messages.** Datagram and seqpacket sockets keep boundaries, so their bytes are not a
//!   stream: every message a runner sends gets a number, and its bytes are derived from it
//!   ([`scenario::msg_byte`]), so received bytes name the message they start ([`scenario::MsgId`])
//!   and a step compares which message came, how much of it, `recvmsg`'s return value (the
//!   whole length with MSG_TRUNC), `msg_flags`' MSG_TRUNC and the sender's address. The
//!   messages of "send until full" are numbered apart (their count differs, as for streams),
//!   so later messages keep the same numbers on both sides.
//! - **Datagram limits.** A datagram's skb is charged to its sender (truesize: 768 bytes for up
//!   to 64 bytes of payload, 4352 for 2048, measured with SIOCOUTQ) until it is received, at
//!   any receiver; the engine charges payload. The generator's [`generator::Guard`] models the
//!   datagrams in flight and keeps each sender's under a quarter of the smallest SO_SNDBUF by
//!   an upper bound of truesize ([`generator::truesize`]), so neither `unix_writable`
//!   (POLLOUT) nor the SO_SNDBUF wait decides a compared step. The receiver's queue length is
//!   counted alike on both sides (full when it holds more than `max_dgram_qlen`, 10, read from
//!   `/proc/sys/net/unix`, for a receiver not connected back to the sender; none for one
//!   connected back, such as a socketpair's), so small datagrams reach it and its EAGAIN and
//!   POLLOUT are compared. After a message socket's "send until full" (Linux stops it by
//!   truesize, the engine by payload) its own sends, POLLOUT and SO_SNDBUF, and sends to the
//!   filled receiver, wait until that queue is drained or closed. A message larger than
//!   SO_SNDBUF - 32 (EMSGSIZE) is drawn only where the engine's SO_SNDBUF, compared exactly,
//!   refuses it.
//! - **Passed objects (`--rights`).** Datagram and seqpacket sockets pass objects with
//!   SCM_RIGHTS: on Linux each is a memfd holding a number, which the receiver reads from the
//!   descriptor it got; the engine carries the numbers as its opaque keys; the library passes
//!   them as handle values through its in-process transport. A receive gives room for exactly
//!   `room` objects (Linux: a control buffer of `CMSG_LEN(room * 4)`, plus room for
//!   SCM_CREDENTIALS when the socket has SO_PASSCRED, which is not compared), and a step
//!   compares the message, MSG_TRUNC, MSG_CTRUNC and the numbers received, in order. Streams
//!   do not carry objects yet, so the generator passes them only on message sockets.
//! - **Backends without a feature.** A backend that cannot run a step at all (a socket type its
//!   layer lacks; no backend lacks one today) answers
//!   [`backend::UNSUPPORTED`]: on the host that is a divergence like any other; a replay stops
//!   comparing that scenario and prints how many it could not compare, loudly.
//! - **Autobind names.** Linux picks the 5 hex digits at random; any such name is reported as
//!   `?????` (length still compared). Scenarios connect to them with `Addr::NameOf`.
//! - **Blocking.** Every socket is non-blocking, so "would block" is EAGAIN on both; pending
//!   operations are covered by the engine's own unit and property tests.
//! - **Socket files.** The library backends make real files (the in-process transport as the
//!   driver does: a socket file holds its binding's secret). The engine backend, which the
//!   generator drives, simulates a directory of files: bind creates one or fails with
//!   EADDRINUSE, connect to a missing one is ENOENT and to a plain one ECONNREFUSED, the file
//!   outlives its socket, and `unlink` and "make a plain file" change it, so deleted socket
//!   files, names rebound and plain files made at a bound name are compared with Linux, as
//!   are paths through a file (ENOTDIR) and with a trailing slash. Scenario paths live in a
//!   private temporary directory and abstract names under a private prefix, so concurrent
//!   runs never collide.

pub mod backend;
pub mod engine_backend;
#[cfg(test)]
mod fault_tests;
pub mod generator;
#[cfg(all(test, target_os = "linux"))]
mod handwritten;
pub mod library_backend;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod scenario;
pub mod trace;
#[cfg(windows)]
pub mod wsp_backend;

#[cfg(windows)]
pub use wsp_backend::replay as replay_wsp;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use backend::Runner;
use engine_backend::linux_limits;
use scenario::{Names, Obs, Op};

/// The command line of `usermode-test conformance`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many seeds to run.
    #[arg(long, default_value_t = 1000)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Write every scenario's trace (JSON lines) to this file.
    #[arg(long)]
    pub record: Option<std::path::PathBuf>,
    /// Instead of generating, replay a recorded trace and compare both backends with it.
    #[arg(long)]
    pub replay: Option<std::path::PathBuf>,
    /// With --replay: run the recorded scenarios through the afunixrs driver (Windows, or
    /// Wine) instead of an in-process engine, and compare with what Linux recorded.
    #[arg(long, requires = "replay")]
    pub driver: bool,
    /// With --driver: the driver runs in its low-resources mode (allocations fail on
    /// purpose). A scenario whose step fails with ENOBUFS or ENOMEM where Linux succeeded is
    /// compared up to that step only; every other difference still fails the run; at the
    /// end the driver must hold no socket, pending request or buffered byte.
    #[arg(long, requires = "driver")]
    pub faults: bool,
    /// Print the first differing step of every divergent seed (the op and each backend's
    /// result), grouped by kind, besides the shrunk first one.
    #[arg(long)]
    pub list: bool,
    /// Generate SCM_RIGHTS steps too: datagram and seqpacket sockets passing objects (on
    /// Linux, memfds holding a marker) and receiving them with too little room, or peeking.
    #[arg(long, conflicts_with = "replay")]
    pub rights: bool,
}

static RUN: AtomicU64 = AtomicU64::new(0);

/// Fresh names for one run: a private directory and abstract prefix.
#[must_use]
pub fn fresh_names() -> Names {
    let n = RUN.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    Names {
        dir: std::env::temp_dir()
            .join(format!("afx{pid}-{n}"))
            .to_string_lossy()
            .into_owned(),
        prefix: format!("afx-{pid}-{n}"),
    }
}

/// Runs `ops` on the engine as programs reach it: through the `afunix` library, the wire
/// format and the device layer, over a fresh in-process engine with this machine's limits.
/// Socket files are real files here (as with the driver), so the directory is made and
/// removed around the run, as for Linux.
#[must_use]
pub fn run_engine(ops: &[Op], names: &Names) -> Vec<Obs> {
    run_library(ops, names, &afunix::Net::in_process_with(linux_limits()))
}

/// Runs `ops` through the library on `net`: an in-process engine, or the driver.
#[must_use]
pub fn run_library(ops: &[Op], names: &Names, net: &afunix::Net) -> Vec<Obs> {
    let _ = std::fs::create_dir_all(&names.dir);
    let mut r = Runner::new(
        library_backend::LibraryBackend::new(net.clone()),
        names.clone(),
    );
    let obs = ops.iter().map(|op| r.step(op)).collect();
    r.close_all();
    let _ = std::fs::remove_dir_all(&names.dir);
    obs
}

/// Runs `ops` on real Linux sockets (the directory is created and removed around it).
#[cfg(target_os = "linux")]
#[must_use]
pub fn run_linux(ops: &[Op], names: &Names) -> Vec<Obs> {
    let _ = std::fs::create_dir_all(&names.dir);
    let mut r = Runner::new(linux::LinuxBackend::new(), names.clone());
    let obs = ops.iter().map(|op| r.step(op)).collect();
    r.close_all();
    let _ = std::fs::remove_dir_all(&names.dir);
    obs
}

/// The reference observations; off Linux there is no reference, so the engine's own are used
/// (a replay of a recorded trace is then the comparison).
#[cfg(not(target_os = "linux"))]
#[must_use]
pub fn run_linux(ops: &[Op], names: &Names) -> Vec<Obs> {
    run_engine(ops, names)
}

/// Runs `ops` on the engine directly ([`engine_backend::EngineBackend`], the generator's
/// own backend: no library, wire format or device layer), over a simulated directory.
#[must_use]
pub fn run_engine_direct(ops: &[Op], names: &Names) -> Vec<Obs> {
    let mut r = Runner::new(
        engine_backend::EngineBackend::new(linux_limits()),
        names.clone(),
    );
    let obs = ops.iter().map(|op| r.step(op)).collect();
    r.close_all();
    obs
}

/// One scenario on Linux, through the library and on the engine directly: (linux, library,
/// engine, index of the first step where either differs from Linux).
#[must_use]
pub fn run_three(ops: &[Op], names: &Names) -> (Vec<Obs>, Vec<Obs>, Vec<Obs>, Option<usize>) {
    let l = run_linux(ops, names);
    let lib = run_engine(ops, names);
    let e = run_engine_direct(ops, names);
    let first = (0..l.len()).find(|&i| l.get(i) != lib.get(i) || l.get(i) != e.get(i));
    (l, lib, e, first)
}

/// One scenario on Linux and the engine (through the library, and directly): (linux,
/// library, index of the first difference of either).
#[must_use]
pub fn run_pair(ops: &[Op], names: &Names) -> (Vec<Obs>, Vec<Obs>, Option<usize>) {
    let (l, lib, e, first) = run_three(ops, names);
    if let Some(i) = first {
        if l.get(i) == lib.get(i) {
            // Only the direct engine differs: report its observations.
            return (l, e, first);
        }
    }
    (l, lib, first)
}

/// Drops steps while the scenario still diverges and stays comparable.
#[must_use]
pub fn shrink(mut ops: Vec<Op>) -> Vec<Op> {
    let mut changed = true;
    while changed {
        changed = false;
        // Everything after the first divergence is irrelevant.
        let names = fresh_names();
        if let (_, _, Some(i)) = run_pair(&ops, &names) {
            ops.truncate(i + 1);
        }
        let mut i = ops.len();
        while i > 0 {
            i -= 1;
            let mut candidate = ops.clone();
            candidate.remove(i);
            if !generator::valid(&candidate, fresh_names()) {
                continue;
            }
            if run_pair(&candidate, &fresh_names()).2.is_some() {
                ops = candidate;
                changed = true;
            }
        }
    }
    ops
}

/// A shrunk divergence: seed, steps, Linux's, the library's and the direct engine's
/// observations.
pub type Divergence = (u64, Vec<Op>, Vec<Obs>, Vec<Obs>, Vec<Obs>);

/// Statistics over a run.
#[derive(Debug, Default)]
pub struct Report {
    /// Scenarios run.
    pub scenarios: u64,
    /// Steps run.
    pub steps: u64,
    /// Per operation kind: how often, and the outcomes Linux gave.
    pub coverage: BTreeMap<&'static str, (u64, BTreeSet<String>)>,
    /// Seeds whose scenario diverged.
    pub divergent_seeds: Vec<u64>,
    /// The first divergence: seed, shrunk steps, and the backends' observations.
    pub first: Option<Divergence>,
    /// Steps a backend could not run at all ([`backend::UNSUPPORTED`]).
    pub unsupported: u64,
    /// Every divergent seed's first differing step: (seed, step, op, linux, library,
    /// engine).
    pub all: Vec<(u64, usize, Op, Obs, Obs, Obs)>,
}

/// A short name for an outcome.
#[must_use]
pub fn outcome(obs: &Obs) -> String {
    match obs {
        Obs::Err(e) => errno_name(*e),
        Obs::Fill { end, .. } => format!("full:{}", errno_name(*end)),
        Obs::Drain { end: 0, .. } => "drained:EOF".into(),
        Obs::Drain { end, .. } => format!("drained:{}", errno_name(*end)),
        Obs::Data { len: 0, .. } => "0 (EOF)".into(),
        _ => "ok".into(),
    }
}

/// The Linux name of an errno.
#[must_use]
pub fn errno_name(e: i32) -> String {
    if e == backend::UNSUPPORTED {
        return "UNSUPPORTED (the backend cannot run this yet)".into();
    }
    u16::try_from(e)
        .ok()
        .and_then(afunix_core::Errno::from_number)
        .map_or_else(|| format!("errno {e}"), |e| e.name().to_owned())
}

impl Report {
    fn count(&mut self, ops: &[Op], linux: &[Obs]) {
        self.scenarios += 1;
        self.steps += ops.len() as u64;
        for (op, obs) in ops.iter().zip(linux) {
            let entry = self.coverage.entry(op.kind()).or_default();
            entry.0 += 1;
            entry.1.insert(outcome(obs));
        }
    }

    /// Prints the table.
    pub fn print(&self) {
        println!("{:<24} {:>8}  outcomes seen (Linux)", "operation", "steps");
        println!("{}", "-".repeat(78));
        for kind in Op::KINDS {
            let (n, outcomes) = self
                .coverage
                .get(kind)
                .map_or((0, String::new()), |(n, o)| {
                    (*n, o.iter().cloned().collect::<Vec<_>>().join(", "))
                });
            println!("{kind:<24} {n:>8}  {outcomes}");
        }
        println!("{}", "-".repeat(78));
        let covered = Op::KINDS
            .iter()
            .filter(|k| self.coverage.get(*k).is_some_and(|(n, _)| *n > 0))
            .count();
        println!("operations covered: {covered}/{}", Op::KINDS.len());
        println!("scenarios run:      {}", self.scenarios);
        println!("steps run:          {}", self.steps);
        println!("divergences:        {}", self.divergent_seeds.len());
        if self.unsupported > 0 {
            println!(
                "WARNING: {} steps were UNSUPPORTED by the library or the engine (counted as divergences)",
                self.unsupported
            );
        }
        if let Some((seed, ops, l, lib, e)) = &self.first {
            println!();
            println!(
                "first divergence: seed {seed}; minimal reproducer ({} steps):",
                ops.len()
            );
            for (i, op) in ops.iter().enumerate() {
                let (a, b, c) = (l.get(i), lib.get(i), e.get(i));
                let mark = if a == b && a == c { " " } else { "!" };
                let show = |o: Option<&Obs>| o.map_or_else(|| "-".to_owned(), |o| format!("{o:?}"));
                println!(
                    "{mark} {i:>3}: {op:?}\n        linux:   {}\n        library: {}\n        engine:  {}",
                    show(a),
                    show(b),
                    show(c)
                );
            }
        }
    }
}

/// Runs seeds `first..first+n`, recording traces if asked.
#[cfg(test)]
pub fn run_seeds(first: u64, n: u64, record: Option<&mut trace::Writer>) -> Report {
    run_seeds_with(first, n, record, false)
}

/// [`run_seeds`], with SCM_RIGHTS steps if `rights`.
pub fn run_seeds_with(
    first: u64,
    n: u64,
    mut record: Option<&mut trace::Writer>,
    rights: bool,
) -> Report {
    let mut report = Report::default();
    let mut progress = crate::progress::Progress::new("seeds", n);
    for seed in first..first.saturating_add(n) {
        let names = fresh_names();
        let mut generator = if rights {
            generator::Generator::with_rights(seed)
        } else {
            generator::Generator::new(seed)
        };
        let ops = generator.scenario(names.clone());
        let (l, lib, e, div) = run_three(&ops, &names);
        if let Some(w) = record.as_deref_mut() {
            w.scenario(seed, &names, &ops, &l, &lib);
        }
        report.count(&ops, &l);
        report.unsupported += lib
            .iter()
            .chain(&e)
            .filter(|o| trace::unsupported(o))
            .count() as u64;
        if let Some(i) = div {
            if let (Some(op), Some(a), Some(b), Some(c)) =
                (ops.get(i), l.get(i), lib.get(i), e.get(i))
            {
                report
                    .all
                    .push((seed, i, op.clone(), a.clone(), b.clone(), c.clone()));
            }
            report.divergent_seeds.push(seed);
            if report.first.is_none() {
                let small = shrink(ops);
                let names = fresh_names();
                let (l, lib, e, _) = run_three(&small, &names);
                report.first = Some((seed, small, l, lib, e));
            }
        }
        progress.tick();
    }
    report
}

/// `usermode-test conformance`.
pub fn run(args: &Args) -> Result<(), String> {
    if let Some(path) = &args.replay {
        let (net, limits) = if args.driver {
            (afunix::Net::system(), afunix_device::driver_limits())
        } else {
            (afunix::Net::in_process_with(linux_limits()), linux_limits())
        };
        // In process, the engine has the recording machine's own limits: compare everything.
        let buffer_max = args
            .driver
            .then(|| limits.sndbuf_max.min(limits.rcvbuf_max));
        let r = trace::replay(path, &net, buffer_max, args.faults)?;
        println!(
            "replayed {} scenarios ({} steps compared) from {}{}: {} mismatches",
            r.scenarios,
            r.steps,
            path.display(),
            if args.driver {
                " through the afunixrs driver"
            } else {
                " through the in-process engine"
            },
            r.mismatches
        );
        r.warn_unsupported(if args.driver {
            "the driver"
        } else {
            "the in-process engine"
        });
        if r.limited_scenarios > 0 {
            println!(
                "{} scenarios set a socket buffer beyond this system's maximum ({} bytes); their remaining {} steps depend on configured limits and were not compared",
                r.limited_scenarios,
                buffer_max.unwrap_or(u32::MAX),
                r.limited_steps
            );
        }
        if args.faults {
            println!(
                "{} scenarios met an injected allocation failure (ENOBUFS/ENOMEM where Linux succeeded); their remaining {} steps were not compared",
                r.faulted_scenarios, r.faulted_steps
            );
            crate::faults::expect_empty("replay with faults")?;
        }
        return if r.mismatches == 0 {
            Ok(())
        } else {
            Err(format!(
                "{} steps differ from the recorded trace",
                r.mismatches
            ))
        };
    }
    let mut writer = match &args.record {
        Some(p) => Some(trace::Writer::create(p)?),
        None => None,
    };
    let start = std::time::Instant::now();
    let report = run_seeds_with(args.first_seed, args.seeds, writer.as_mut(), args.rights);
    report.print();
    if args.list {
        let mut groups: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (seed, i, op, l, lib, e) in &report.all {
            let key = format!(
                "{}: linux {} / library {} / engine {}",
                op.kind(),
                outcome(l),
                outcome(lib),
                outcome(e)
            );
            let seeds = groups.entry(key).or_default();
            if seeds.is_empty() {
                println!(
                    "seed {seed} step {i} {op:?}\n    linux:   {l:?}\n    library: {lib:?}\n    engine:  {e:?}"
                );
            }
            seeds.push(*seed);
        }
        println!();
        for (key, seeds) in &groups {
            println!(
                "{:>6} x {key} (seeds {:?})",
                seeds.len(),
                &seeds[..seeds.len().min(5)]
            );
        }
    }
    println!(
        "seeds {}..={} in {:.1} s",
        args.first_seed,
        args.first_seed + args.seeds.saturating_sub(1),
        start.elapsed().as_secs_f64()
    );
    if !cfg!(target_os = "linux") {
        println!("note: no Linux reference on this platform; the engine was compared with itself");
    }
    if report.divergent_seeds.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} scenarios diverged (seeds {:?}...)",
            report.divergent_seeds.len(),
            report.scenarios,
            &report.divergent_seeds[..report.divergent_seeds.len().min(10)]
        ))
    }
}
