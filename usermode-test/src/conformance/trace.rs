//! Traces: one JSON object per line, self-contained, so a later run (or the driver under
//! Wine) can replay the same steps and compare.
//!
//! ```text
//! {"kind":"scenario","seed":7,"names":{"dir":"/tmp/afx1-3","prefix":"afx-1-3"},"steps":42}
//! {"kind":"step","seed":7,"i":0,"op":{"Socket":{"s":0}},"raw_addr":null,"linux":"Ok","engine":"Ok"}
//! ```
//!
//! `raw_addr` is the sockaddr passed to bind/connect, bytes as numbers, its length the
//! `addr_len` (null for other steps and for `NameOf`, which is resolved by getsockname at run
//! time). Abstract names start with a NUL byte. Observations are [`Obs`] values.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::scenario::{Addr, Names, Obs, Op, SockOpt};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Line {
    Scenario {
        seed: u64,
        names: Names,
        steps: usize,
    },
    Step {
        seed: u64,
        i: usize,
        op: Op,
        raw_addr: Option<Vec<u8>>,
        linux: Obs,
        engine: Obs,
    },
}

/// Writes traces.
#[derive(Debug)]
pub struct Writer {
    out: BufWriter<std::fs::File>,
}

impl Writer {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> Result<Self, String> {
        let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self {
            out: BufWriter::new(f),
        })
    }

    /// Records one scenario.
    pub fn scenario(
        &mut self,
        seed: u64,
        names: &Names,
        ops: &[Op],
        linux: &[Obs],
        engine: &[Obs],
    ) {
        let mut lines = vec![Line::Scenario {
            seed,
            names: names.clone(),
            steps: ops.len(),
        }];
        for (i, ((op, l), e)) in ops.iter().zip(linux).zip(engine).enumerate() {
            let raw_addr = match op {
                Op::Bind { addr, .. } | Op::Connect { addr, .. } | Op::SendTo { addr, .. }
                    if !matches!(addr, Addr::NameOf { .. }) =>
                {
                    Some(names.raw(addr))
                }
                _ => None,
            };
            lines.push(Line::Step {
                seed,
                i,
                op: op.clone(),
                raw_addr,
                linux: l.clone(),
                engine: e.clone(),
            });
        }
        for line in lines {
            if let Ok(s) = serde_json::to_string(&line) {
                let _ = writeln!(self.out, "{s}");
            }
        }
        let _ = self.out.flush();
    }
}

/// Replays a trace on both backends; returns (scenarios, steps whose observation differs
/// from the recorded Linux observation).
/// The outcome of a replay.
#[derive(Debug, Default)]
pub struct Replay {
    pub scenarios: u64,
    /// Steps compared.
    pub steps: u64,
    /// Steps whose result differs from what Linux recorded.
    pub mismatches: u64,
    /// Scenarios that set SO_SNDBUF/SO_RCVBUF beyond the system under test's maximum: from
    /// that step on the results depend on the configured maxima (`net.core.wmem_max` and
    /// `rmem_max` on the recording Linux machine, which may have raised them; the driver's
    /// own caps), not on behaviour, so the rest of such a scenario is not compared.
    pub limited_scenarios: u64,
    /// Steps left uncompared for that reason.
    pub limited_steps: u64,
    /// Scenarios with a step the system under test cannot express (Winsock has no
    /// SO_PASSCRED, SO_DOMAIN or SO_PROTOCOL): the rest of each is not compared.
    pub inexpressible_scenarios: u64,
    /// Steps left uncompared for that reason.
    pub inexpressible_steps: u64,
    /// Steps that change nothing and that the system under test cannot express (reading an
    /// option Winsock has not): not compared, and the scenario goes on.
    pub skipped_steps: u64,
    /// Scenarios with a step the system under test cannot run at all yet (its layer lacks
    /// the feature: [`super::backend::UNSUPPORTED`], e.g. a socket type): the rest of each is
    /// not compared, and the replay says so loudly.
    pub unsupported_scenarios: u64,
    /// Steps left uncompared for that reason.
    pub unsupported_steps: u64,
    /// With injected allocation failures (`--faults`): scenarios in which a step failed with
    /// ENOBUFS or ENOMEM where Linux succeeded; the rest of each is not compared (every later
    /// step may differ for that reason alone).
    pub faulted_scenarios: u64,
    /// Steps left uncompared for that reason.
    pub faulted_steps: u64,
}

/// Whether `got` is a refusal for want of memory (ENOBUFS, ENOMEM) where Linux recorded
/// something else: what an injected allocation failure may change, and nothing more.
#[must_use]
pub fn out_of_memory(recorded: &Obs, got: &Obs) -> bool {
    const ENOMEM: i32 = 12;
    const ENOBUFS: i32 = 105;
    let refused = |e: &i32| *e == ENOMEM || *e == ENOBUFS;
    recorded != got
        && match got {
            Obs::Err(e) => refused(e),
            Obs::Fill { end, .. } => refused(end),
            _ => false,
        }
}

/// Whether `got` says the system under test cannot run the step at all.
#[must_use]
pub fn unsupported(got: &Obs) -> bool {
    use super::backend::UNSUPPORTED;
    matches!(got, Obs::Err(UNSUPPORTED))
        || matches!(
            got,
            Obs::Fill {
                end: UNSUPPORTED,
                ..
            } | Obs::Drain {
                end: UNSUPPORTED,
                ..
            }
        )
}

impl Replay {
    /// Prints the loud line about what could not be run, if anything.
    pub fn warn_unsupported(&self, what: &str) {
        if self.unsupported_scenarios > 0 {
            println!(
                "WARNING: {} scenarios reached a step {what} cannot run yet (UNSUPPORTED: a socket type or call its layer lacks); their remaining {} steps were NOT compared",
                self.unsupported_scenarios, self.unsupported_steps
            );
        }
    }
}

/// How a replay treats a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Only the provider's replay (Windows) skips or stops.
#[cfg_attr(not(windows), allow(dead_code))]
pub enum Replayed {
    /// Compared with what Linux recorded.
    Compared,
    /// Not compared; it changes nothing, so the scenario goes on.
    Skipped,
    /// Not expressible, and it changes state: the rest of the scenario is not compared.
    Stop,
}

/// Replays a recorded trace through the library on `net` and compares each step with what
/// Linux recorded; the first ten mismatches are printed with their scenario and step.
/// `buffer_max` is the largest SO_SNDBUF/SO_RCVBUF request the system under test honours
/// before clamping (`Limits::sndbuf_max`) when it differs from the recording machine's; None
/// when they are the same, and every step is compared.
pub fn replay(
    path: &Path,
    net: &afunix::Net,
    buffer_max: Option<u32>,
    faults: bool,
) -> Result<Replay, String> {
    replay_with(
        path,
        buffer_max,
        faults,
        |ops, names| super::run_library(ops, names, net),
        |_, _| Replayed::Compared,
        |_, recorded, got| recorded == got,
    )
}

/// [`replay`] with another way to run a scenario, and another comparison (`same(op,
/// recorded, got)`): the provider compares what Winsock can express, skips steps it cannot
/// that change nothing, and stops comparing a scenario at its first step that it cannot
/// express and that changes state (`expressible(ops, i)`, for step `i` of the scenario's
/// `ops`: what a step means may depend on the steps before it, e.g. its socket's type).
pub fn replay_with(
    path: &Path,
    buffer_max: Option<u32>,
    faults: bool,
    mut run: impl FnMut(&[Op], &Names) -> Vec<Obs>,
    expressible: impl Fn(&[Op], usize) -> Replayed,
    same: impl Fn(&Op, &Obs, &Obs) -> bool,
) -> Result<Replay, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut scenarios: Vec<(Names, Vec<Op>, Vec<Obs>)> = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line =
            serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", n + 1))?;
        match parsed {
            Line::Scenario { names, .. } => scenarios.push((names, Vec::new(), Vec::new())),
            Line::Step { op, linux, .. } => {
                let cur = scenarios
                    .last_mut()
                    .ok_or_else(|| format!("line {}: step before scenario", n + 1))?;
                cur.1.push(op);
                cur.2.push(linux);
            }
        }
    }
    let mut report = Replay {
        scenarios: scenarios.len() as u64,
        ..Replay::default()
    };
    let mut progress = crate::progress::Progress::new("scenarios", report.scenarios);
    for (n, (names, ops, recorded)) in scenarios.iter().enumerate() {
        let got = run(ops, names);
        progress.tick();
        let steps = recorded.iter().zip(&got).zip(ops).enumerate();
        for (i, ((r, g), op)) in steps {
            match expressible(ops, i) {
                Replayed::Compared => {}
                Replayed::Skipped => {
                    report.skipped_steps += 1;
                    continue;
                }
                Replayed::Stop => {
                    report.inexpressible_scenarios += 1;
                    report.inexpressible_steps += (ops.len() - i) as u64;
                    break;
                }
            }
            if let Op::SetOpt {
                opt: SockOpt::SndBuf | SockOpt::RcvBuf,
                val,
                ..
            } = op
            {
                // A negative value is a huge unsigned one to Linux: clamped to the maximum.
                if buffer_max
                    .is_some_and(|max| *val < 0 || u32::try_from(*val).is_ok_and(|v| v > max))
                {
                    report.limited_scenarios += 1;
                    report.limited_steps += (ops.len() - i) as u64;
                    break;
                }
            }
            if unsupported(g) {
                report.unsupported_scenarios += 1;
                report.unsupported_steps += (ops.len() - i) as u64;
                if report.unsupported_scenarios <= 3 {
                    println!(
                        "scenario {n} step {i} {op:?}: UNSUPPORTED by the system under test; the rest of the scenario is not compared"
                    );
                }
                break;
            }
            if faults && out_of_memory(r, g) {
                report.faulted_scenarios += 1;
                report.faulted_steps += (ops.len() - i) as u64;
                break;
            }
            report.steps += 1;
            if !same(op, r, g) {
                report.mismatches += 1;
                if report.mismatches <= 10 {
                    println!("scenario {n} step {i} {op:?}: Linux recorded {r:?}, got {g:?}");
                }
            }
        }
    }
    Ok(report)
}
