//! A rate limit for debug lines that a caller can trigger at will (an unknown IOCTL, an
//! unsupported major function): anyone who may open the device could otherwise fill the
//! kernel debugger's log, and spend the dispatch thread's time formatting lines.
//!
//! Per interval, the first `burst` events print; the rest are counted. The first event that
//! prints after some were dropped learns how many, so its caller can say so in one summary
//! line. There is no timer: a summary waits for the next event that prints, so a burst
//! followed by silence leaves its count for the next one.
//!
//! It keeps no clock: the caller passes the time in ticks of its own (the driver passes the
//! system time, in 100 ns units; see its `log_unknown` for why not `KeQueryInterruptTime`). Lock-free: three atomics, no allocation, no
//! panic; concurrent callers may see a window start twice or let a line or two more through
//! at an edge, never lose count of more than what races with a summary.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// One second in the kernel's 100 ns time units.
pub const ONE_SECOND_IN_100NS: u64 = 10_000_000;

/// What to do with one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Print it. `suppressed` events were dropped since the last one printed: say so first
    /// when it is not zero.
    Print { suppressed: u64 },
    /// Drop it (it has been counted).
    Suppress,
}

/// At most `burst` lines per `interval` ticks.
#[derive(Debug)]
pub struct RateLimit {
    burst: u32,
    interval: u64,
    /// When the current interval began, in the caller's ticks.
    window_start: AtomicU64,
    /// Events seen in the current interval, up to `u32::MAX`.
    seen: AtomicU32,
    /// Events dropped since the last one that printed, up to `u64::MAX`.
    suppressed: AtomicU64,
}

impl RateLimit {
    /// A limit of `burst` lines per `interval` ticks. The first interval starts at tick 0.
    #[must_use]
    pub const fn new(burst: u32, interval: u64) -> Self {
        RateLimit {
            burst,
            interval,
            window_start: AtomicU64::new(0),
            seen: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Decides about one event happening at `now` (the caller's ticks, never going back; if
    /// they do, a new interval starts there).
    pub fn check(&self, now: u64) -> Verdict {
        let start = self.window_start.load(Ordering::Relaxed);
        let expired = match now.checked_sub(start) {
            Some(elapsed) => elapsed >= self.interval,
            None => true,
        };
        if expired
            && self
                .window_start
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            // This caller opened the interval; one that lost the race counts in it.
            self.seen.store(0, Ordering::Relaxed);
        }
        let seen = self
            .seen
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .unwrap_or(u32::MAX);
        if seen < self.burst {
            Verdict::Print {
                suppressed: self.suppressed.swap(0, Ordering::Relaxed),
            }
        } else {
            let _ = self
                .suppressed
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1));
            Verdict::Suppress
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    const SECOND: u64 = ONE_SECOND_IN_100NS;
    const BOOTED: u64 = 1_234_567_890;

    #[track_caller]
    fn run(limit: &RateLimit, now: u64, events: usize) -> (usize, Vec<u64>) {
        let mut printed = 0;
        let mut summaries = Vec::new();
        for _ in 0..events {
            if let Verdict::Print { suppressed } = limit.check(now) {
                printed += 1;
                if suppressed != 0 {
                    summaries.push(suppressed);
                }
            }
        }
        (printed, summaries)
    }

    #[test]
    fn the_first_burst_prints_and_the_rest_of_the_interval_is_counted() {
        let limit = RateLimit::new(5, SECOND);
        assert_eq!(run(&limit, BOOTED, 1000), (5, vec![]));
        // Still the same interval a little later: nothing more.
        assert_eq!(run(&limit, BOOTED + SECOND - 1, 10), (0, vec![]));
    }

    #[test]
    fn the_next_interval_prints_again_and_says_how_many_were_dropped() {
        let limit = RateLimit::new(5, SECOND);
        run(&limit, BOOTED, 1000);
        assert_eq!(
            limit.check(BOOTED + SECOND),
            Verdict::Print { suppressed: 995 }
        );
        // The count was handed over once.
        assert_eq!(
            limit.check(BOOTED + SECOND),
            Verdict::Print { suppressed: 0 }
        );
        assert_eq!(run(&limit, BOOTED + SECOND + 1, 10), (3, vec![]));
    }

    #[test]
    fn a_steady_flood_prints_at_most_burst_lines_per_interval() {
        let limit = RateLimit::new(3, SECOND);
        let mut printed = 0;
        let mut summarised = 0;
        // 10 seconds of one event per millisecond.
        for ms in 0..10_000u64 {
            if let Verdict::Print { suppressed } = limit.check(BOOTED + ms * (SECOND / 1000)) {
                printed += 1;
                summarised += suppressed;
            }
        }
        assert_eq!(printed, 30);
        // Every dropped event is reported except those of the last interval, which wait for
        // the next line.
        assert_eq!(summarised + 997, 10_000 - 30);
    }

    #[test]
    fn quiet_events_all_print() {
        let limit = RateLimit::new(2, SECOND);
        for second in 0..20 {
            assert_eq!(
                limit.check(BOOTED + second * SECOND),
                Verdict::Print { suppressed: 0 }
            );
        }
    }

    #[test]
    fn time_zero_and_a_clock_going_back_open_an_interval() {
        let limit = RateLimit::new(1, SECOND);
        assert_eq!(limit.check(0), Verdict::Print { suppressed: 0 });
        assert_eq!(limit.check(1), Verdict::Suppress);
        assert_eq!(limit.check(SECOND), Verdict::Print { suppressed: 1 });
        assert_eq!(limit.check(SECOND / 2), Verdict::Print { suppressed: 0 });
        assert_eq!(limit.check(u64::MAX), Verdict::Print { suppressed: 0 });
        assert_eq!(limit.check(u64::MAX), Verdict::Suppress);
    }

    #[test]
    fn a_zero_burst_prints_nothing_and_counts_saturate() {
        let limit = RateLimit::new(0, SECOND);
        assert_eq!(run(&limit, BOOTED, 100), (0, vec![]));
        limit.suppressed.store(u64::MAX - 1, Ordering::Relaxed);
        assert_eq!(limit.check(BOOTED), Verdict::Suppress);
        assert_eq!(limit.check(BOOTED), Verdict::Suppress);
        assert_eq!(limit.suppressed.load(Ordering::Relaxed), u64::MAX);
        let many = RateLimit::new(u32::MAX, SECOND);
        many.check(BOOTED);
        many.seen.store(u32::MAX - 1, Ordering::Relaxed);
        assert_eq!(many.check(BOOTED), Verdict::Print { suppressed: 0 });
        // The count stops at u32::MAX rather than wrapping round to "few seen".
        for _ in 0..3 {
            assert_eq!(many.check(BOOTED), Verdict::Suppress);
        }
    }

    #[test]
    fn threads_together_print_no_more_than_a_burst_and_lose_no_count() {
        use std::sync::Arc;
        let limit = Arc::new(RateLimit::new(4, u64::MAX));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let limit = Arc::clone(&limit);
                std::thread::spawn(move || run(&limit, BOOTED, 10_000))
            })
            .collect();
        let printed: usize = threads.into_iter().map(|t| t.join().unwrap().0).sum();
        assert_eq!(printed, 4);
        assert_eq!(limit.suppressed.load(Ordering::Relaxed), 40_000 - 4);
    }
}
