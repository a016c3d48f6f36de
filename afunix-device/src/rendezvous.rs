//! Completing a request that two parties must both be done with: the engine's result and a
//! framework's cancel callback.
//!
//! KMDF's case: once the framework has decided to cancel a request, `WdfRequestUnmarkCancelable`
//! answers STATUS_CANCELLED, and the cancel callback has been or will be called on another
//! thread, still using the request. The request must then be completed exactly once, and only
//! after that callback has finished with it. A [`Rendezvous`] in the request's context decides
//! it: the side holding the result leaves it ([`Rendezvous::leave_result`]), the callback checks
//! in ([`Rendezvous::callback_done`]), and whichever arrives second is told to complete, with the
//! result. The memory may start zeroed (KMDF zeroes object contexts): zero is "nobody yet".

use core::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};

/// The two parties' meeting point: how many have arrived, and the result left there.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Rendezvous {
    arrivals: AtomicU32,
    status: AtomicI32,
    information: AtomicUsize,
}

/// What the second party to arrive completes the request with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: i32,
    pub information: usize,
}

impl Rendezvous {
    /// Nobody has arrived; for a request (re)presented to the driver.
    pub fn reset(&self) {
        self.status.store(0, Ordering::Relaxed);
        self.information.store(0, Ordering::Relaxed);
        self.arrivals.store(0, Ordering::Release);
    }

    /// The side with the result arrives, leaving it. `Some`: the callback is done with the
    /// request, so complete it now with this outcome; `None`: the callback will.
    pub fn leave_result(&self, status: i32, information: usize) -> Option<Outcome> {
        self.status.store(status, Ordering::Relaxed);
        self.information.store(information, Ordering::Relaxed);
        // Release: the result is visible to the callback if it arrives second; Acquire: the
        // callback's last use of the request happened before, if it arrived first.
        if self.arrivals.fetch_add(1, Ordering::AcqRel) == 0 {
            return None;
        }
        Some(Outcome {
            status,
            information,
        })
    }

    /// The cancel callback is done with the request and arrives. `Some`: the result is there,
    /// so complete the request with it now; `None`: the side with the result will, when it
    /// arrives. The callback must not touch the request after this returns `None`.
    pub fn callback_done(&self) -> Option<Outcome> {
        if self.arrivals.fetch_add(1, Ordering::AcqRel) == 0 {
            return None;
        }
        Some(Outcome {
            status: self.status.load(Ordering::Relaxed),
            information: self.information.load(Ordering::Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::sync::{Arc, Barrier};
    use std::thread;

    use super::*;

    const RESULT: Outcome = Outcome {
        status: -1_073_741_536, // STATUS_CANCELLED
        information: 7,
    };

    #[test]
    fn the_result_first_then_the_callback_completes_with_it() {
        let r = Rendezvous::default();
        assert_eq!(r.leave_result(RESULT.status, RESULT.information), None);
        assert_eq!(r.callback_done(), Some(RESULT));
    }

    #[test]
    fn the_callback_first_then_the_result_completes_itself() {
        let r = Rendezvous::default();
        assert_eq!(r.callback_done(), None);
        assert_eq!(
            r.leave_result(RESULT.status, RESULT.information),
            Some(RESULT)
        );
    }

    #[test]
    fn reset_forgets_an_earlier_request() {
        let r = Rendezvous::default();
        assert_eq!(r.callback_done(), None);
        assert!(r.leave_result(1, 2).is_some());
        r.reset();
        assert_eq!(r.leave_result(RESULT.status, RESULT.information), None);
        assert_eq!(r.callback_done(), Some(RESULT));
    }

    /// Both parties racing on two threads, many times: exactly one completes, always with the
    /// result that was left.
    #[test]
    fn racing_parties_complete_exactly_once_with_the_result() {
        const ROUNDS: usize = 20_000;
        let r = Arc::new(Rendezvous::default());
        let start = Arc::new(Barrier::new(2));
        let end = Arc::new(Barrier::new(2));
        let callback = {
            let (r, start, end) = (Arc::clone(&r), Arc::clone(&start), Arc::clone(&end));
            thread::spawn(move || {
                let mut completed = 0usize;
                for _ in 0..ROUNDS {
                    start.wait();
                    if let Some(outcome) = r.callback_done() {
                        assert_eq!(outcome, RESULT);
                        completed += 1;
                    }
                    end.wait();
                    end.wait();
                }
                completed
            })
        };
        let mut completed = 0usize;
        for _ in 0..ROUNDS {
            start.wait();
            if let Some(outcome) = r.leave_result(RESULT.status, RESULT.information) {
                assert_eq!(outcome, RESULT);
                completed += 1;
            }
            end.wait();
            r.reset();
            end.wait();
        }
        let by_callback = callback.join().unwrap();
        assert_eq!(completed + by_callback, ROUNDS);
        // Both orders happened (on two cores; on one, either may dominate).
        std::println!("result side completed {completed}, callback side {by_callback}");
    }
}
