//! The kernel allocator: non-paged pool with our tag, counted for STATS.
//!
//! It has a low-resources mode for tests, in the manner of Driver Verifier's: once
//! [`inject_failures`] is called (from the registry's `Parameters\FailAllocations` and
//! `Parameters\FailSeed`, read at load), it refuses every N-th allocation, or one in N at
//! random from a seed, as the pool does when memory runs out. The counting is one atomic
//! add per allocation: no lock, no arithmetic that can overflow or divide by zero.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use afunix_proto::names::POOL_TAG;

use afunix_ntos::{
    ExAllocatePool2Fn, ExAllocatePoolWithTag, ExFreePoolWithTag, MmGetSystemRoutineAddress,
    NON_PAGED_POOL_NX, POOL_FLAG_NON_PAGED, static_unicode_string,
};

/// Pool blocks are aligned to 16 bytes on x64 (`MEMORY_ALLOCATION_ALIGNMENT`); a stricter
/// alignment is refused rather than faked.
const POOL_ALIGNMENT: usize = 16;

/// `ExAllocatePool2`, if the running kernel exports it; 0 until [`init`] finds it.
static ALLOCATE_POOL2: AtomicUsize = AtomicUsize::new(0);

/// Bytes currently allocated through [`PoolAllocator`].
static POOL_BYTES: AtomicU64 = AtomicU64::new(0);

/// Low-resources mode: refuse one allocation in `FAIL_EVERY` (0: off).
static FAIL_EVERY: AtomicU64 = AtomicU64::new(0);
/// 0: refuse exactly every `FAIL_EVERY`-th allocation; otherwise the seed of a pseudo-random
/// choice of one in `FAIL_EVERY`.
static FAIL_SEED: AtomicU64 = AtomicU64::new(0);
/// Allocations asked for since the mode was turned on.
static ASKED: AtomicU64 = AtomicU64::new(0);
/// Allocations the mode refused.
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// Turns the low-resources mode on (`every` > 0) or off (`every` = 0): from now on, one
/// allocation in `every` fails; every `every`-th one if `seed` is 0, else a pseudo-random
/// one in `every` chosen from `seed`. Called from `DriverEntry` before the engine is set up,
/// so the engine's own first allocations may fail too.
pub fn inject_failures(every: u32, seed: u32) {
    ASKED.store(0, Ordering::Relaxed);
    REFUSED.store(0, Ordering::Relaxed);
    FAIL_SEED.store(u64::from(seed), Ordering::Relaxed);
    FAIL_EVERY.store(u64::from(every), Ordering::Release);
}

/// (allocations asked for, allocations refused) since the low-resources mode was turned on.
pub fn injected() -> (u64, u64) {
    (
        ASKED.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed),
    )
}

/// splitmix64's finaliser: spreads a counter into well-mixed bits.
const fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Whether the low-resources mode refuses this allocation.
fn refuse() -> bool {
    let every = FAIL_EVERY.load(Ordering::Acquire);
    if every == 0 {
        return false;
    }
    let n = ASKED.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    let seed = FAIL_SEED.load(Ordering::Relaxed);
    let draw = if seed == 0 { n } else { mix(n ^ mix(seed)) };
    let refused = draw.checked_rem(every) == Some(0);
    if refused {
        REFUSED.fetch_add(1, Ordering::Relaxed);
    }
    refused
}

const EX_ALLOCATE_POOL2_UTF16: [u16; 15] = afunix_proto::names::ascii_to_utf16("ExAllocatePool2");

/// Looks up `ExAllocatePool2`. Called once from `DriverEntry`, before any allocation.
pub fn init() {
    let name = static_unicode_string(&EX_ALLOCATE_POOL2_UTF16);
    // SAFETY:
    // 1. `name` is a valid counted string over a 'static array.
    // 2. MmGetSystemRoutineAddress may be called at PASSIVE_LEVEL, as DriverEntry runs.
    let routine = unsafe { MmGetSystemRoutineAddress(&name) };
    ALLOCATE_POOL2.store(routine as usize, Ordering::Release);
}

/// Whether the kernel gave us `ExAllocatePool2` (false under Wine 8).
pub fn has_allocate_pool2() -> bool {
    ALLOCATE_POOL2.load(Ordering::Acquire) != 0
}

/// Bytes of pool the driver holds now.
pub fn bytes_in_use() -> u64 {
    POOL_BYTES.load(Ordering::Relaxed)
}

#[derive(Debug)]
pub struct PoolAllocator;

// SAFETY:
// 1. `alloc` returns either null or a fresh non-paged block of at least `layout.size()`
//    bytes, aligned to 16, which satisfies every layout it accepts (it refuses stricter ones).
// 2. `dealloc` frees with the same tag the block was allocated with.
unsafe impl GlobalAlloc for PoolAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > POOL_ALIGNMENT || refuse() {
            return core::ptr::null_mut();
        }
        let pool2 = ALLOCATE_POOL2.load(Ordering::Acquire);
        let block = if pool2 != 0 {
            // SAFETY:
            // 1. `pool2` is the non-zero address MmGetSystemRoutineAddress returned for
            //    "ExAllocatePool2", whose signature is `ExAllocatePool2Fn`.
            let allocate: ExAllocatePool2Fn =
                unsafe { core::mem::transmute::<usize, ExAllocatePool2Fn>(pool2) };
            // SAFETY:
            // 1. Non-paged pool may be allocated at IRQL <= DISPATCH_LEVEL, where we run.
            unsafe { allocate(POOL_FLAG_NON_PAGED, layout.size(), POOL_TAG) }
        } else {
            // SAFETY:
            // 1. As above; NonPagedPoolNx is the non-executable non-paged pool.
            unsafe { ExAllocatePoolWithTag(NON_PAGED_POOL_NX, layout.size(), POOL_TAG) }
        };
        if !block.is_null() {
            POOL_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        block.cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY:
        // 1. The caller guarantees `ptr` came from `alloc` above, which allocated it from
        //    pool with POOL_TAG.
        unsafe { ExFreePoolWithTag(ptr.cast::<c_void>(), POOL_TAG) };
        POOL_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
    }
}

#[cfg(feature = "standalone")]
#[global_allocator]
static ALLOCATOR: PoolAllocator = PoolAllocator;
