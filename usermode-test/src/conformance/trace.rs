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

use super::scenario::{Addr, Names, Obs, Op};

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
                Op::Bind { addr, .. } | Op::Connect { addr, .. }
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
/// Replays a recorded trace through the library on `net` and counts the steps whose result
/// differs from what Linux recorded. Each mismatch is printed with its scenario and step.
pub fn replay(path: &Path, net: &afunix::Net) -> Result<(u64, u64), String> {
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
    let mut mismatches = 0;
    for (n, (names, ops, recorded)) in scenarios.iter().enumerate() {
        let got = super::run_library(ops, names, net);
        for (i, ((r, g), op)) in recorded.iter().zip(&got).zip(ops).enumerate() {
            if r != g {
                mismatches += 1;
                if mismatches <= 10 {
                    println!("scenario {n} step {i} {op:?}: Linux recorded {r:?}, got {g:?}");
                }
            }
        }
    }
    Ok((scenarios.len() as u64, mismatches))
}
