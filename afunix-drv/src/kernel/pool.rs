//! The kernel allocator: non-paged pool with our tag, counted for STATS.

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

pub struct PoolAllocator;

// SAFETY:
// 1. `alloc` returns either null or a fresh non-paged block of at least `layout.size()`
//    bytes, aligned to 16, which satisfies every layout it accepts (it refuses stricter ones).
// 2. `dealloc` frees with the same tag the block was allocated with.
unsafe impl GlobalAlloc for PoolAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > POOL_ALIGNMENT {
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

#[global_allocator]
static ALLOCATOR: PoolAllocator = PoolAllocator;
