//! What a front end supplies for each request: the seam between a driver framework (WDM's
//! IRPs, KMDF's WDFREQUESTs) and the shared request path.

use core::ffi::c_void;
use core::ptr::NonNull;

use afunix_core::{Errno, Token};
use afunix_device::FileId;
use afunix_proto::ErrnoCodes;
use afunix_ntos::{
    KERNEL_MODE, MDL_SYSTEM_MAPPED, MM_CACHED, MmMapLockedPagesSpecifyCache,
    NORMAL_PAGE_PRIORITY_NX,
};
use windows_sys::Wdk::Foundation::MDL;
use windows_sys::Win32::Foundation::NTSTATUS;

/// A request's data buffer: the caller's pages, locked and mapped into system space by its
/// MDL, as raw parts. They stay valid until the request is completed; the driver touches
/// them only under the engine lock, while the request is being executed or is pending.
#[derive(Clone, Copy, Debug)]
pub struct DataBuffer {
    pub start: NonNull<u8>,
    pub len: usize,
    /// Whether the pages were locked for writing: a RECV's are, a SEND's are locked for
    /// reading only and are never written.
    pub writable: bool,
}

impl DataBuffer {
    /// The pages a request's MDL describes, mapped (`map_mdl`), as its data buffer; empty
    /// when there is none. `writable` says whether the I/O manager locked them for writing.
    /// None if they cannot be mapped.
    ///
    /// # Safety
    /// As for `map_mdl`.
    pub unsafe fn of_mdl(mdl: *mut MDL, writable: bool) -> Option<DataBuffer> {
        // SAFETY:
        // 1. The caller's contract, passed on.
        let (start, len) = unsafe { map_mdl(mdl) }?;
        Some(DataBuffer {
            start: NonNull::new(start).unwrap_or(NonNull::dangling()),
            len,
            writable,
        })
    }

    /// The whole buffer, to write (RECVFROM's header); None if its pages were locked for
    /// reading only: no writable view of a SEND's pages is ever made.
    ///
    /// # Safety
    /// The buffer's request is held (not completed) for the slice's lifetime, and nothing
    /// else writes the pages meanwhile.
    pub unsafe fn writable_slice<'a>(&self) -> Option<&'a mut [u8]> {
        if !self.writable {
            return None;
        }
        if self.len == 0 {
            return Some(&mut []);
        }
        // SAFETY:
        // 1. `start` maps `len` bytes locked for writing (checked above), valid while the
        //    request is held, which the caller's contract bounds.
        Some(unsafe { core::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) })
    }

    /// The part of the buffer from `offset` on (RECVFROM's data, after the sender's address),
    /// if the buffer is that long.
    pub fn after(self, offset: usize) -> Option<DataBuffer> {
        let len = self.len.checked_sub(offset)?;
        Some(DataBuffer {
            start: NonNull::new(self.start.as_ptr().wrapping_add(offset))?,
            len,
            writable: self.writable,
        })
    }

    /// [`DataBuffer::range`], to write: None also when the pages may not be written.
    pub fn writable_range(&self, offset: usize, len: usize) -> Option<*mut u8> {
        if !self.writable {
            return None;
        }
        self.range(offset, len)
    }

    /// The address `offset` bytes in, if `offset..offset + len` lies inside the buffer.
    pub fn range(&self, offset: usize, len: usize) -> Option<*mut u8> {
        let end = offset.checked_add(len)?;
        (end <= self.len).then(|| self.start.as_ptr().wrapping_add(offset))
    }
}

/// The NTSTATUS a request fails with for `errno` (`afunix_proto::ErrnoCodes`: the errno
/// travels to user mode inside it, without loss).
pub fn failed(errno: Errno) -> NTSTATUS {
    errno.to_ntstatus() as i32
}

/// The pages an MDL describes, mapped into system space (`MmGetSystemAddressForMdlSafe`):
/// (address, length); (null, 0) when there is no MDL or it is empty. None if they cannot be
/// mapped.
///
/// # Safety
/// `mdl` is null or a request's MDL, built and locked by the I/O manager (direct I/O), and
/// stays so while the mapping is used: until the request is completed.
unsafe fn map_mdl(mdl: *mut MDL) -> Option<(*mut u8, usize)> {
    if mdl.is_null() {
        return Some((core::ptr::null_mut(), 0));
    }
    // SAFETY:
    // 1. The caller's contract: `mdl` is a valid MDL for the request's lifetime; we only read
    //    it.
    let mdl_fields = unsafe { &*mdl };
    let (flags, mapped, length) = (
        mdl_fields.MdlFlags,
        mdl_fields.MappedSystemVa,
        mdl_fields.ByteCount,
    );
    if length == 0 {
        // A zero-length buffer (Wine builds an MDL for one) has nothing to map.
        return Some((core::ptr::null_mut(), 0));
    }
    let address = if flags & MDL_SYSTEM_MAPPED != 0 {
        mapped
    } else {
        // MmGetSystemAddressForMdlSafe, which is a macro over this call.
        // SAFETY:
        // 1. The pages are locked by the I/O manager for direct I/O; mapping them in kernel
        //    mode, cached, without bug-checking on failure, is what the macro does.
        unsafe {
            MmMapLockedPagesSpecifyCache(
                mdl,
                KERNEL_MODE,
                MM_CACHED,
                core::ptr::null_mut(),
                0,
                NORMAL_PAGE_PRIORITY_NX,
            )
        }
    };
    if address.is_null() {
        return None;
    }
    Some((address.cast::<u8>(), length as usize))
}

/// A pending request as the shared path keeps it: the framework's own object (an IRP, a
/// WDFREQUEST) as an opaque pointer, and the data buffer the engine reaches by token while it
/// pends. Only the front end that made it turns it back into a request
/// ([`FrontRequest::resume`]), and only whoever removed it from the pending table does so, so
/// it is completed exactly once.
#[derive(Debug)]
pub struct Held {
    pub object: NonNull<c_void>,
    pub data: Option<DataBuffer>,
}

// SAFETY:
// 1. A pending request may be completed from any thread; ownership is handed over through the
//    pending table under the engine lock, never shared.
unsafe impl Send for Held {}

/// Where a reply is written when a request completes (`afunix_device::write_reply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyArea {
    /// RECVFROM's header: the first bytes of its data buffer (the caller's pages).
    DataHeader,
    /// The output buffer of a METHOD_BUFFERED IOCTL: its OutputBufferLength bytes.
    Output,
    /// A POLL's request, rewritten in place: the system buffer's InputBufferLength bytes.
    Input,
}

/// One request of a front end's framework, owned by the driver until it is completed.
///
/// `complete` consumes it, so completing twice does not compile, and forgetting to warns
/// (`#[must_use]` on the implementations).
pub trait FrontRequest: Sized {
    /// The token naming the request in the engine while it executes and pends.
    fn token(&self) -> Token;

    /// The file (socket) it was issued on.
    fn file(&self) -> FileId;

    /// The data buffer of SEND, RECV, READ and WRITE: the caller's pages, mapped; an empty
    /// buffer when there is none. None if it cannot be mapped.
    fn data_buffer(&mut self) -> Option<DataBuffer>;

    /// The area a reply of this kind goes into, if the request has it.
    fn reply_area(&mut self, area: ReplyArea) -> Option<&mut [u8]>;

    /// Completes the request with `status` and `information`, and returns `status` for the
    /// dispatch routine to return.
    fn complete(self, status: NTSTATUS, information: usize) -> NTSTATUS;

    /// Makes the request pending and cancelable, routing its cancellation to
    /// [`crate::sockets::cancel`]. Returns the held form and whether it was cancelled before
    /// that was in place: then no cancel callback will come, and the caller must cancel it in
    /// the engine itself.
    ///
    /// Called under the engine's lock: a cancellation that comes at once waits for it.
    fn hold(self, data: Option<DataBuffer>) -> (Held, bool);

    /// Takes a held request back to complete it: no longer cancelable.
    ///
    /// # Safety
    /// `held` must have come from [`FrontRequest::hold`] of this same type, and must just have
    /// been removed from the pending table (so nothing else holds it).
    unsafe fn resume(held: Held) -> Self;
}
