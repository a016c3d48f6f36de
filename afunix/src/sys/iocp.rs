//! How the async sockets' requests complete on Windows: the process's one I/O completion
//! port, and the one thread that takes its packets and wakes the tasks waiting on them.
//!
//! A handle is associated with the port the first time a request is submitted on it. Each
//! submitted request is a [`Block`] on the heap: its status block and its METHOD_BUFFERED
//! reply buffer, which the I/O manager writes, and the [`Completion`] its task polls. The
//! request's APC context is the block's address, with one reference counted for the
//! kernel; the packet that the I/O manager queues when the request completes carries that
//! address back (`OVERLAPPED_ENTRY::lpOverlapped`), and the completion thread takes the
//! reference back with it. So a block outlives its request whatever happens to the task that
//! issued it, and is freed exactly once.
//!
//! The library's blocking requests on the same handle pass no APC context, so they queue no
//! packet (as kernel32 does for an OVERLAPPED whose event has its low bit set).

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use afunix_core::Errno;
use windows_sys::Wdk::System::IO::NtDeviceIoControlFile;
use windows_sys::Win32::Foundation::{
    ERROR_INVALID_PARAMETER, GetLastError, HANDLE, INVALID_HANDLE_VALUE, STATUS_PENDING,
};
use windows_sys::Win32::System::IO::{
    CancelIoEx, CreateIoCompletionPort, GetQueuedCompletionStatusEx, IO_STATUS_BLOCK, OVERLAPPED,
    OVERLAPPED_ENTRY,
};

use crate::channel::{Completion, InFlight, Reply};

/// `INFINITE`.
const INFINITE: u32 = u32::MAX;

/// The port, as a number (a HANDLE is a pointer, which a static cannot hold).
fn port() -> Result<usize, Errno> {
    static PORT: OnceLock<Result<usize, Errno>> = OnceLock::new();
    *PORT.get_or_init(|| {
        // SAFETY:
        // 1. INVALID_HANDLE_VALUE with no existing port makes a new port; one thread at a
        //    time takes its packets.
        let port = unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, ptr::null_mut(), 0, 1) };
        if port.is_null() {
            return Err(Errno::ENOMEM);
        }
        let value = port as usize;
        std::thread::Builder::new()
            .name("afunix-completions".into())
            .spawn(move || take_packets(value))
            .map_err(|_| Errno::ENOMEM)?;
        Ok(value)
    })
}

/// The completion thread: for ever, up to 64 packets at a time, each request's block
/// completed and its kernel reference released. The port lives as long as the process.
fn take_packets(port: usize) {
    const BATCH: usize = 64;
    // SAFETY:
    // 1. OVERLAPPED_ENTRY is plain data; all-zero is a valid value.
    let mut entries: [OVERLAPPED_ENTRY; BATCH] = unsafe { std::mem::zeroed() };
    loop {
        let mut taken = 0u32;
        // SAFETY:
        // 1. `entries` holds BATCH entries, which the call fills `taken` of; the port is
        //    this process's and never closed.
        let ok = unsafe {
            GetQueuedCompletionStatusEx(
                port as HANDLE,
                entries.as_mut_ptr(),
                BATCH as u32,
                &mut taken,
                INFINITE,
                0,
            )
        };
        if ok == 0 {
            continue;
        }
        for entry in entries.iter().take(taken as usize) {
            let address = entry.lpOverlapped.cast::<Block>().cast_const();
            if address.is_null() {
                // Not one of ours: a request issued with no APC context queues none.
                continue;
            }
            // SAFETY:
            // 1. Only `submit` gives the kernel an APC context: a block's address with one
            //    reference counted for this packet (`Arc::into_raw`), and the I/O manager
            //    queues exactly one packet per request that does not fail at once. This
            //    takes that reference back, once.
            let block = unsafe { Arc::from_raw(address) };
            block.complete();
        }
    }
}

/// One submitted request: what the kernel writes, and what its task waits on.
pub(crate) struct Block {
    /// The request's status block: written by the I/O manager when it completes.
    status: UnsafeCell<IO_STATUS_BLOCK>,
    /// The output buffer: the I/O manager copies a METHOD_BUFFERED reply into it when the
    /// request completes, or maps it for a METHOD_OUT_DIRECT request's data.
    reply: UnsafeCell<Vec<u8>>,
    /// The handle it was issued on, for CancelIoEx (the caller keeps the handle open while
    /// it may cancel).
    handle: usize,
    completion: Completion,
}

// SAFETY:
// 1. `status` and `reply` are written by the kernel only while the request is in flight, and
//    read by `complete` only after its packet, when the kernel is done with them; nothing
//    else reaches them. Everything else is Sync.
unsafe impl Sync for Block {}
// SAFETY:
// 1. As above: the cells hold plain data, reached by one thread at a time.
unsafe impl Send for Block {}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl Block {
    /// Its packet came: the request is over, and the kernel is done with the block.
    fn complete(&self) {
        // SAFETY:
        // 1. The packet is queued after the I/O manager wrote the status block and the reply;
        //    nothing writes them any more.
        let block = unsafe { ptr::read_volatile(self.status.get()) };
        // SAFETY:
        // 1. The union's Status member is the one the I/O manager writes (Pointer is for
        //    drivers' own use).
        let status = unsafe { block.Anonymous.Status };
        let result = if status >= 0 {
            // SAFETY:
            // 1. As above: the kernel no longer writes the reply; only this thread reads it.
            Ok((block.Information, unsafe {
                std::mem::take(&mut *self.reply.get())
            }))
        } else if status == super::transport::STATUS_CANCELLED {
            Err(Errno::ECANCELED)
        } else {
            Err(super::transport::errno_of(status))
        };
        self.completion.finish(result);
    }
}

impl InFlight for Block {
    fn poll_reply(&self, cx: &mut Context<'_>) -> Poll<Reply> {
        self.completion.poll(cx)
    }

    fn cancel(&self) {
        if self.completion.is_done() {
            return;
        }
        // SAFETY:
        // 1. Cancels only the request whose status block this is (the I/O manager matches
        //    the OVERLAPPED pointer with the request's status block) on the handle it was
        //    issued on, which the caller keeps open; a request already over is not found.
        unsafe {
            CancelIoEx(
                self.handle as HANDLE,
                self.status.get().cast::<OVERLAPPED>(),
            )
        };
    }

    fn is_done(&self) -> bool {
        self.completion.is_done()
    }
}

/// Associates `handle` with the port, once per handle (`associated` remembers it). A handle
/// that shares its file with one already associated (a `try_clone`) is associated through
/// it: the port is the file's, and Windows refuses a second association with
/// ERROR_INVALID_PARAMETER, which is taken to mean that.
pub(crate) fn associate(handle: HANDLE, associated: &AtomicBool) -> Result<(), Errno> {
    if associated.load(Ordering::Acquire) {
        return Ok(());
    }
    let port = port()?;
    // SAFETY:
    // 1. `handle` is an open overlapped handle of the caller's; the port is ours. The key is
    //    unused (each packet names its request by its APC context).
    let joined = unsafe { CreateIoCompletionPort(handle, port as HANDLE, 0, 0) };
    if joined.is_null() {
        // SAFETY:
        // 1. Reads the calling thread's last-error value; no memory is touched.
        let error = unsafe { GetLastError() };
        if error != ERROR_INVALID_PARAMETER {
            return Err(Errno::ENOMEM);
        }
    }
    associated.store(true, Ordering::Release);
    Ok(())
}

/// Issues IOCTL `code` on `handle` (associated with the port) without waiting: see
/// [`crate::channel::Endpoint::submit`].
pub(crate) fn submit(
    handle: HANDLE,
    code: u32,
    input: &[u8],
    output: Vec<u8>,
) -> Result<Arc<Block>, Errno> {
    let in_len = u32::try_from(input.len()).map_err(|_| Errno::EINVAL)?;
    let out_len = u32::try_from(output.len()).map_err(|_| Errno::EINVAL)?;
    // SAFETY:
    // 1. IO_STATUS_BLOCK is plain data; all-zero is a valid value.
    let mut status: IO_STATUS_BLOCK = unsafe { std::mem::zeroed() };
    status.Anonymous.Status = STATUS_PENDING;
    let block = Arc::new(Block {
        status: UnsafeCell::new(status),
        reply: UnsafeCell::new(output),
        handle: handle as usize,
        completion: Completion::default(),
    });
    // The kernel's reference: the APC context, which its packet brings back.
    let context = Arc::into_raw(block.clone());
    // SAFETY:
    // 1. Nothing else touches the output buffer until the request completes; its heap
    //    memory does not move (the Vec is not resized while the request is in flight).
    let buffer = unsafe { (*block.reply.get()).as_mut_ptr() };
    // SAFETY:
    // 1. `handle` is an open overlapped handle associated with the port. The input is read
    //    (copied, for every method) before the call returns; the status block and the output
    //    buffer (`out_len` bytes) are in the block, which the kernel's reference keeps alive
    //    until the packet is taken. No event, no APC routine; the APC context is the block,
    //    for the packet.
    let returned = unsafe {
        NtDeviceIoControlFile(
            handle,
            ptr::null_mut(),
            None,
            context.cast::<c_void>(),
            block.status.get(),
            code,
            if input.is_empty() {
                ptr::null()
            } else {
                input.as_ptr().cast::<c_void>()
            },
            in_len,
            if out_len == 0 {
                ptr::null_mut()
            } else {
                buffer.cast::<c_void>()
            },
            out_len,
        )
    };
    // An error status returned at once (NT_ERROR: both top bits set) means the request
    // failed before it was queued: no packet comes, and the kernel's reference is ours to
    // drop. A warning or success completes through the port like a pending request.
    if (returned as u32) >> 30 == 3 {
        // SAFETY:
        // 1. The reference made by `Arc::into_raw` above, which no packet will bring back.
        drop(unsafe { Arc::from_raw(context) });
        return Err(super::transport::errno_of(returned));
    }
    Ok(block)
}
