//! IRP dispatch: every major function the driver handles, routed to the socket layer.

use core::sync::atomic::{AtomicU64, Ordering};

use afunix_core::Errno;
use afunix_proto::ErrnoCodes;
use afunix_proto::decode::{DecodeError, Request as Decoded, decode};
use afunix_proto::{DriverStats, DriverVersion};
use windows_sys::Wdk::Foundation::{DEVICE_OBJECT, IRP};
use windows_sys::Wdk::System::SystemServices::{IRP_MJ_READ, IRP_MJ_WRITE};
use windows_sys::Win32::Foundation::{
    NTSTATUS, STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
};
use zerocopy::IntoBytes;

use afunix_device::ratelimit::{ONE_SECOND_IN_100NS, RateLimit, Verdict};
use afunix_ntos::KeQuerySystemTime;

use super::caller;
use super::debug::{self, kprint};
use super::pool;
use super::request::Request;
use super::sockets;

/// This driver's version, from its Cargo manifest.
pub const VERSION: DriverVersion = DriverVersion::from_parts(
    env!("CARGO_PKG_VERSION_MAJOR"),
    env!("CARGO_PKG_VERSION_MINOR"),
    env!("CARGO_PKG_VERSION_PATCH"),
);

/// File objects open on the device: counted up at CREATE and down at CLOSE.
static OPEN_HANDLES: AtomicU64 = AtomicU64::new(0);

fn failed(errno: Errno) -> NTSTATUS {
    errno.to_ntstatus() as i32
}

/// Unknown IOCTLs and unsupported major functions are logged, since they point at a client
/// built against another protocol; but anyone who may open the device can send them, so at
/// most this many lines a second, then one line saying how many were left out.
const UNKNOWN_LINES_PER_SECOND: u32 = 5;
static UNKNOWN_REQUESTS: RateLimit = RateLimit::new(UNKNOWN_LINES_PER_SECOND, ONE_SECOND_IN_100NS);

/// Logs one unknown request, within [`UNKNOWN_REQUESTS`]'s limit.
///
/// The clock is the system time (100 ns units), not `KeQueryInterruptTime`: Wine 8's
/// `KeQueryInterruptTime` returns its tick count in milliseconds, so a second in 100 ns units
/// would last hours there. A system time set back or forward only starts a new interval.
fn log_unknown(line: core::fmt::Arguments<'_>) {
    let mut now = 0i64;
    // SAFETY:
    // 1. `now` is a valid out pointer; KeQuerySystemTime is callable at any IRQL.
    unsafe { KeQuerySystemTime(&mut now) };
    if let Verdict::Print { suppressed } = UNKNOWN_REQUESTS.check(now.unsigned_abs()) {
        if suppressed != 0 {
            kprint!(
                "{} more unknown requests were not logged (at most {} lines a second)",
                suppressed,
                UNKNOWN_LINES_PER_SECOND
            );
        }
        debug::print(line);
    }
}

pub unsafe extern "system" fn create(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. The I/O manager passes each IRP to exactly one dispatch routine, uncompleted.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    match sockets::open(&request) {
        Ok(()) => {
            OPEN_HANDLES.fetch_add(1, Ordering::Relaxed);
            request.complete(STATUS_SUCCESS, 0)
        }
        Err(e) => request.complete(failed(e), 0),
    }
}

pub unsafe extern "system" fn close(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. As in `create`.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    sockets::close(&request);
    // CLOSE comes once per successful CREATE, so this never goes below zero; saturate anyway
    // rather than wrap if a kernel ever sent one too many.
    let _ = OPEN_HANDLES.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    request.complete(STATUS_SUCCESS, 0)
}

/// CLEANUP: the last user handle closed (Windows sends it; Wine never does). The socket is
/// torn down here, completing its pending requests, as the I/O manager requires; CLOSE then
/// finds nothing left to do.
pub unsafe extern "system" fn cleanup(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. As in `create`.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    sockets::close(&request);
    request.complete(STATUS_SUCCESS, 0)
}

/// READ and WRITE: RECV and SEND without flags, on the caller's pages (direct I/O).
pub unsafe extern "system" fn read_write(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. As in `create`.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let flags = afunix_proto::decode::MsgFlags(0);
    let decoded = if u32::from(request.major()) == IRP_MJ_READ {
        Decoded::Recv { flags, from: false }
    } else if u32::from(request.major()) == IRP_MJ_WRITE {
        Decoded::Send { flags, to: None }
    } else {
        return request.complete(STATUS_INVALID_DEVICE_REQUEST, 0);
    };
    sockets::execute(request, decoded)
}

pub unsafe extern "system" fn device_control(
    _device: *const DEVICE_OBJECT,
    irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY:
    // 1. As in `create`.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let Some(params) = request.device_io_control() else {
        return request.complete(STATUS_INVALID_PARAMETER, 0);
    };
    // SAFETY:
    // 1. The input is used only to decode this request and to hand its pieces to the
    //    engine, all before the request is completed or made pending, and before any reply
    //    is written into the system buffer.
    let input = unsafe { request.system_input() };
    match decode(
        params.io_control_code,
        input,
        params.output_buffer_length as usize,
    ) {
        Ok(Decoded::Stats) => stats(request),
        Ok(decoded) => sockets::execute(request, decoded),
        Err(DecodeError::UnknownIoctl(code)) => {
            log_unknown(format_args!("unknown IOCTL {:#010x}", code));
            request.complete(STATUS_INVALID_DEVICE_REQUEST, 0)
        }
        Err(DecodeError::OutputTooSmall)
            if params.io_control_code == afunix_proto::IOCTL_AFUNIX_STATS =>
        {
            request.complete(STATUS_BUFFER_TOO_SMALL, 0)
        }
        Err(e) => request.complete(
            failed(Errno::from_number(e.errno()).unwrap_or(Errno::EINVAL)),
            0,
        ),
    }
}

/// Any other major function: not supported.
pub unsafe extern "system" fn unsupported(
    _device: *const DEVICE_OBJECT,
    irp: *mut IRP,
) -> NTSTATUS {
    // SAFETY:
    // 1. As in `create`.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    log_unknown(format_args!(
        "unsupported request, major function {}",
        request.major()
    ));
    request.complete(STATUS_INVALID_DEVICE_REQUEST, 0)
}

/// IOCTL_AFUNIX_STATS (METHOD_BUFFERED): writes a [`DriverStats`] to the system buffer. The
/// counters show everyone's traffic, so only an administrator may read them
/// ([`caller::may_read_stats`]); anyone else gets EACCES.
fn stats(mut request: Request) -> NTSTATUS {
    if !caller::may_read_stats() {
        return request.complete(failed(Errno::EACCES), 0);
    }
    let reply = DriverStats::new(
        VERSION,
        OPEN_HANDLES.load(Ordering::Relaxed),
        pool::bytes_in_use(),
        sockets::counters(),
    );
    let bytes = reply.as_bytes();
    let written = request.system_buffer_out().and_then(|buffer| {
        buffer.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(bytes.len())
    });
    match written {
        Some(n) => request.complete(STATUS_SUCCESS, n),
        None => request.complete(STATUS_BUFFER_TOO_SMALL, 0),
    }
}
