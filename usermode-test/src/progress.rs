//! Progress lines for the long runs (conformance seeds and replays): one line at each tenth
//! of the way, with the time so far, so that a log shows what is running and how far it is.
//!
//! Off unless [`enable`]d: `main` turns it on for the command line; the tests that call the
//! same loops stay quiet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns progress lines on for this process.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Counts `total` items of one run ("scenarios") and prints "  progress: 300/1000 scenarios
/// (4.2 s)" each time another tenth is done.
#[derive(Debug)]
pub struct Progress {
    what: &'static str,
    total: u64,
    done: u64,
    tenths: u64,
    start: Instant,
}

impl Progress {
    /// A run of `total` items called `what`.
    #[must_use]
    pub fn new(what: &'static str, total: u64) -> Progress {
        Progress {
            what,
            total,
            done: 0,
            tenths: 0,
            start: Instant::now(),
        }
    }

    /// One more item done.
    pub fn tick(&mut self) {
        self.done = self.done.saturating_add(1);
        let tenths = self.done.saturating_mul(10) / self.total.max(1);
        if tenths > self.tenths && ENABLED.load(Ordering::Relaxed) {
            println!(
                "  progress: {}/{} {} ({:.1} s)",
                self.done,
                self.total,
                self.what,
                self.start.elapsed().as_secs_f64()
            );
        }
        self.tenths = tenths;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_tenth() {
        let mut p = Progress::new("items", 25);
        let mut lines = 0;
        for _ in 0..25 {
            let before = p.tenths;
            p.tick();
            if p.tenths > before {
                lines += 1;
            }
        }
        assert_eq!(lines, 10);
        assert_eq!(p.done, 25);
    }
}
