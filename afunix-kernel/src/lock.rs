//! A kernel spin lock around a value.
//!
//! The engine is reached from dispatch routines (PASSIVE_LEVEL) and from cancel routines
//! (DISPATCH_LEVEL, called with the cancel spin lock held), so its lock must be one that can
//! be taken at DISPATCH_LEVEL: a spin lock. Nothing under it blocks or touches pageable
//! memory: the engine allocates from non-paged pool and copies between non-paged buffers and
//! locked, system-mapped user pages.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

use afunix_ntos::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock};

pub struct SpinLocked<T> {
    /// A KSPIN_LOCK: zero is the initialised, free state (what KeInitializeSpinLock writes).
    lock: UnsafeCell<usize>,
    value: UnsafeCell<T>,
}

// SAFETY:
// 1. The value is reached only through a Guard, and a Guard exists only while the spin lock
//    is held, so at most one thread touches the value at a time.
unsafe impl<T: Send> Sync for SpinLocked<T> {}

impl<T> SpinLocked<T> {
    pub const fn new(value: T) -> Self {
        SpinLocked {
            lock: UnsafeCell::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, raising IRQL to DISPATCH_LEVEL until the guard drops.
    pub fn lock(&self) -> Guard<'_, T> {
        // SAFETY:
        // 1. `lock` is a valid KSPIN_LOCK that lives as long as `self`; the caller runs at
        //    IRQL <= DISPATCH_LEVEL, as every dispatch and cancel routine does.
        let old_irql = unsafe { KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        Guard {
            owner: self,
            old_irql,
        }
    }
}

pub struct Guard<'a, T> {
    owner: &'a SpinLocked<T>,
    old_irql: u8,
}

/// Only the lock's address: reading the value would take the lock.
impl<T> core::fmt::Debug for SpinLocked<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpinLocked")
            .field("lock", &self.lock.get())
            .finish_non_exhaustive()
    }
}

impl<T> core::fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Guard")
            .field("old_irql", &self.old_irql)
            .finish_non_exhaustive()
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY:
        // 1. The lock is held for the guard's lifetime, so no other reference exists.
        unsafe { &*self.owner.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY:
        // 1. As above, and `&mut self` makes this the only reference through this guard.
        unsafe { &mut *self.owner.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY:
        // 1. This guard acquired the lock and releases it once, restoring the IRQL it found.
        unsafe { KeReleaseSpinLock(self.owner.lock.get(), self.old_irql) };
    }
}
