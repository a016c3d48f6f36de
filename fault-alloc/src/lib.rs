//! Test-only fault injection: a global allocator that fails a chosen allocation.
//!
//! A test binary installs it (`#[global_allocator] static A: FaultAlloc = FaultAlloc;`) and
//! arms it only around the code under test, on its own thread ([`armed`]): the harness's
//! own allocations are never failed, and tests on other threads are not disturbed. While
//! armed, allocations are counted from 1; [`Plan::FailAt`] makes the N-th return null (as
//! `ExAllocatePool2` returns NULL), [`Plan::FailFrom`] every one from the N-th on. Code
//! under test that allocates fallibly (`try_reserve`) then sees an `Err`; one that does not
//! aborts the test binary (`handle_alloc_error`), which is the bug this finds.
//!
//! The only `unsafe` is the allocator itself, which Rust's `GlobalAlloc` requires.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Which armed allocations fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// None: count only.
    Count,
    /// The N-th armed allocation (from 1) fails, the others succeed.
    FailAt(u64),
    /// Every armed allocation from the N-th on fails.
    FailFrom(u64),
}

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static PLAN: Cell<Plan> = const { Cell::new(Plan::Count) };
    static SEEN: Cell<u64> = const { Cell::new(0) };
    static FAILED: Cell<u64> = const { Cell::new(0) };
}

/// The allocator: `System`, except for the armed thread's chosen allocations.
#[derive(Debug)]
pub struct FaultAlloc;

/// Whether this allocation is to fail (counts it when armed).
fn inject() -> bool {
    // `try_with`: during thread teardown the locals may be gone; never fail then.
    ARMED
        .try_with(|armed| {
            if !armed.get() {
                return false;
            }
            let n = SEEN.get().saturating_add(1);
            SEEN.set(n);
            let fail = match PLAN.get() {
                Plan::Count => false,
                Plan::FailAt(k) => n == k,
                Plan::FailFrom(k) => n >= k,
            };
            if fail {
                FAILED.set(FAILED.get().saturating_add(1));
            }
            fail
        })
        .unwrap_or(false)
}

// SAFETY:
// 1. Every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s contract,
//    or returns null, which the contract allows for any allocation (it means failure).
unsafe impl GlobalAlloc for FaultAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if inject() {
            return std::ptr::null_mut();
        }
        // SAFETY:
        // 1. The caller upholds `alloc`'s contract (non-zero size), passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if inject() {
            return std::ptr::null_mut();
        }
        // SAFETY:
        // 1. The caller upholds `alloc_zeroed`'s contract, passed on as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if inject() {
            // A failed realloc leaves the old block as it was, as the contract requires.
            return std::ptr::null_mut();
        }
        // SAFETY:
        // 1. `ptr` was allocated by this allocator, that is by `System`, with `layout`
        //    (the caller's contract), and `new_size` is valid for it.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY:
        // 1. `ptr` came from `System` (every block this allocator hands out does) with
        //    `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Sets this thread's plan and clears its counters.
pub fn start(plan: Plan) {
    PLAN.set(plan);
    SEEN.set(0);
    FAILED.set(0);
    ARMED.set(false);
}

/// Runs `f` with this thread's allocations counted (and failed as planned).
pub fn armed<R>(f: impl FnOnce() -> R) -> R {
    let before = ARMED.replace(true);
    let r = f();
    ARMED.set(before);
    r
}

/// Runs `f` with this thread's allocations neither counted nor failed (the harness's own
/// work inside an armed region).
pub fn disarmed<R>(f: impl FnOnce() -> R) -> R {
    let before = ARMED.replace(false);
    let r = f();
    ARMED.set(before);
    r
}

/// Armed allocations seen on this thread since `start`.
#[must_use]
pub fn seen() -> u64 {
    SEEN.get()
}

/// Allocations failed on this thread since `start`.
#[must_use]
pub fn failed() -> u64 {
    FAILED.get()
}

/// Arms this thread (see [`armed`]); for harnesses that take plain `fn()` hooks.
pub fn arm() {
    ARMED.set(true);
}

/// Disarms this thread.
pub fn disarm() {
    ARMED.set(false);
}

/// A small seeded generator (xorshift64*) for choosing which allocations to fail.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The allocations to fail among `total`: all of them when at most `cap`, else `cap`
    /// of them chosen at random (sorted, without repeats).
    pub fn choose(&mut self, total: u64, cap: u64) -> Vec<u64> {
        if total <= cap {
            return (1..=total).collect();
        }
        let mut picked = std::collections::BTreeSet::new();
        while (picked.len() as u64) < cap {
            picked.insert(self.next_u64() % total + 1);
        }
        picked.into_iter().collect()
    }
}
