//! Overlapped sends and receives: the program's OVERLAPPED is the request's status block,
//! so its event, its completion port and `WSPGetOverlappedResult` all see the driver's
//! completion; a completion routine is run by an APC on the issuing thread.

use std::ffi::c_void;
use std::ptr;

use afunix_proto::encode;
use afunix_proto::ioctl::{IOCTL_AFUNIX_RECV, IOCTL_AFUNIX_SEND, IOCTL_AFUNIX_SENDTO};
use afunix_proto::wire::MSG_AFUNIX_OVERLAPPED;
use windows_sys::Wdk::System::IO::NtDeviceIoControlFile;
use windows_sys::Win32::Foundation::{HANDLE, STATUS_PENDING};
use windows_sys::Win32::Networking::WinSock::LPWSAOVERLAPPED_COMPLETION_ROUTINE;
use windows_sys::Win32::System::IO::{GetOverlappedResult, IO_STATUS_BLOCK, OVERLAPPED};
use zerocopy::IntoBytes;

use crate::winsock::{WSA_IO_INCOMPLETE, WSA_IO_PENDING, wsa};

/// One overlapped transfer.
#[derive(Debug)]
pub(crate) enum Transfer {
    /// WSPSend: the SEND request.
    Send { data: *const u8, len: u32 },
    /// WSPRecv: the RECV request with these Linux flags (peek, waitall).
    Recv { buf: *mut u8, len: u32, flags: u32 },
    /// WSPSendTo on a datagram socket: the SENDTO request with this whole input (its
    /// flags, [`MSG_AFUNIX_OVERLAPPED`] among them, and the destination).
    SendTo {
        data: *const u8,
        len: u32,
        input: Vec<u8>,
    },
}

/// What the completion routine needs when the APC runs.
struct Routine {
    routine: unsafe extern "system" fn(u32, u32, *mut OVERLAPPED, u32),
    overlapped: *mut OVERLAPPED,
}

/// The WSA code for a completed request's NTSTATUS; 0 for success.
pub(crate) fn status_code(status: i32) -> i32 {
    if status >= 0 {
        0
    } else {
        wsa(afunix::sys::status_errno(status))
    }
}

/// The APC: runs the program's completion routine with Winsock's arguments.
unsafe extern "system" fn run_routine(
    context: *mut c_void,
    io_status: *mut IO_STATUS_BLOCK,
    _reserved: u32,
) {
    // SAFETY:
    // 1. `context` is the Box `start` leaked for this request; the I/O manager runs this
    //    APC once per request, so the Box is taken back exactly once.
    let routine = unsafe { Box::from_raw(context.cast::<Routine>()) };
    // SAFETY:
    // 1. The status block is the program's OVERLAPPED, valid until this completion has
    //    been delivered (Winsock's contract for overlapped calls).
    let io_status = unsafe { io_status.read() };
    // SAFETY:
    // 1. Reading the union's status: the I/O manager wrote it on completion.
    let status = unsafe { io_status.Anonymous.Status };
    let error = u32::try_from(status_code(status)).unwrap_or(0);
    let transferred = u32::try_from(io_status.Information).unwrap_or(u32::MAX);
    // SAFETY:
    // 1. The program's own completion routine, called as WSARecv/WSASend document:
    //    (error, bytes, its OVERLAPPED, flags).
    unsafe { (routine.routine)(error, transferred, routine.overlapped, 0) };
}

/// Starts `transfer` on `handle` with the program's `overlapped`. Ok when it finished
/// at once (its count: [`transferred`]) (the event is set, a completion packet is queued and the completion routine will
/// run, as for a request that pended); Err(WSA_IO_PENDING) when it pends; another Err when
/// it failed at once (nothing is queued then).
///
/// # Safety
///
/// `overlapped` is writable and, with the transfer's buffer, stays valid until the request
/// completes: the caller of WSPSend/WSPRecv promises that.
pub(crate) unsafe fn start(
    handle: HANDLE,
    overlapped: *mut OVERLAPPED,
    routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    transfer: Transfer,
) -> Result<(), i32> {
    // SAFETY:
    // 1. The caller's OVERLAPPED is writable (this function's contract). What ReadFile does
    //    before issuing: a wait sees the request as pending until it completes.
    unsafe { (*overlapped).Internal = STATUS_PENDING as usize };
    // SAFETY:
    // 1. As above.
    unsafe { (*overlapped).InternalHigh = 0 };
    // SAFETY:
    // 1. As above; readable too.
    let event = unsafe { (*overlapped).hEvent };
    let (apc, context, event): (_, *const c_void, HANDLE) = match routine {
        Some(routine) => {
            let boxed = Box::new(Routine {
                routine,
                overlapped,
            });
            // With a completion routine, hEvent belongs to the program (WSARecv's
            // documentation): it is not signalled.
            (
                Some(run_routine as unsafe extern "system" fn(_, _, _)),
                Box::into_raw(boxed).cast_const().cast(),
                ptr::null_mut(),
            )
        }
        // As kernel32 does: a completion packet carries the OVERLAPPED, unless the program
        // set the event's low bit to keep this request off its completion port.
        None if event as usize & 1 == 1 => (None, ptr::null(), event),
        None => (None, overlapped.cast_const().cast(), event),
    };
    let io_status = overlapped.cast::<IO_STATUS_BLOCK>();
    // Overlapped requests wait even on a non-blocking socket, as Winsock's do.
    let (code, input, data, len) = match transfer {
        Transfer::Send { data, len } => (IOCTL_AFUNIX_SEND, flagged(0), data.cast_mut(), len),
        Transfer::Recv { buf, len, flags } => (IOCTL_AFUNIX_RECV, flagged(flags), buf, len),
        Transfer::SendTo { data, len, input } => (IOCTL_AFUNIX_SENDTO, input, data.cast_mut(), len),
    };
    // SAFETY:
    // 1. The handle is one of our sockets (an overlapped file handle); the data buffer and
    //    the OVERLAPPED outlive the request (this function's contract); `apc`/`context` are
    //    as NtDeviceIoControlFile documents them. The input is copied by the I/O manager
    //    before the call returns (SEND and RECV buffer their input).
    let status = unsafe {
        NtDeviceIoControlFile(
            handle,
            event,
            apc,
            context,
            io_status,
            code,
            input.as_ptr().cast(),
            u32::try_from(input.len()).unwrap_or(0),
            data.cast(),
            len,
        )
    };
    if status == STATUS_PENDING {
        return Err(WSA_IO_PENDING);
    }
    // NT_ERROR: an error status (severity 3). Warnings and successes complete the request
    // normally, APC, event and completion packet included.
    if (status as u32) >> 30 == 3 {
        if routine.is_some() {
            // A request that fails at once queues no APC: the Box is ours to free.
            // SAFETY:
            // 1. `context` is the Box leaked above, and no APC will take it.
            drop(unsafe { Box::from_raw(context.cast_mut().cast::<Routine>()) });
        }
        // Nothing will complete it later: the status block says how it ended, so a
        // WSPGetOverlappedResult on it does not wait for ever.
        // SAFETY:
        // 1. The caller's OVERLAPPED, writable, and no longer in the I/O manager's hands.
        unsafe { (*overlapped).Internal = status as usize };
        return Err(status_code(status));
    }
    Ok(())
}

/// SEND's or RECV's input: these flags, and [`MSG_AFUNIX_OVERLAPPED`].
fn flagged(flags: u32) -> Vec<u8> {
    encode::data(flags | MSG_AFUNIX_OVERLAPPED)
        .as_bytes()
        .to_vec()
}

/// The byte count of a request that [`start`] reported finished at once.
///
/// # Safety
///
/// Only when the program asked for the count (a non-null count pointer): it then may not
/// reuse the OVERLAPPED before the call returns, whereas without one another thread may
/// already have dequeued the completion and freed it.
pub(crate) unsafe fn transferred(overlapped: *const OVERLAPPED) -> u32 {
    // SAFETY:
    // 1. The request completed and the OVERLAPPED is still the program's (this function's
    //    contract): the I/O manager has written the status block.
    let n = unsafe { (*overlapped).InternalHigh };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `OVERLAPPED.Internal`, the status, is its first field.
const _: () = assert!(std::mem::offset_of!(OVERLAPPED, Internal) == 0);

fn internal(overlapped: *const OVERLAPPED) -> *const usize {
    overlapped.cast()
}

/// `WSPGetOverlappedResult`: (bytes, WSA code or 0), waiting first if `wait`.
///
/// # Safety
///
/// `overlapped` is the program's OVERLAPPED of a request started on `handle`.
pub(crate) unsafe fn result(
    handle: HANDLE,
    overlapped: *const OVERLAPPED,
    wait: bool,
) -> Result<(u32, i32), i32> {
    // SAFETY:
    // 1. The kernel may be writing the status block: read it without tearing.
    let pending = unsafe { ptr::read_volatile(internal(overlapped)) } == STATUS_PENDING as usize;
    if pending {
        if !wait {
            return Err(WSA_IO_INCOMPLETE);
        }
        let mut transferred = 0;
        // SAFETY:
        // 1. Waits (bWait = TRUE) on the request's event, or the handle when it has none.
        //    Its result is not used: the status block below is the truth, errno included.
        unsafe { GetOverlappedResult(handle, overlapped, &mut transferred, 1) };
    }
    // SAFETY:
    // 1. The request has completed: the status block is final.
    let status = unsafe { ptr::read_volatile(internal(overlapped)) };
    // SAFETY:
    // 1. As above.
    let transferred = unsafe { (*overlapped).InternalHigh };
    Ok((
        u32::try_from(transferred).unwrap_or(u32::MAX),
        status_code(status as i32),
    ))
}
