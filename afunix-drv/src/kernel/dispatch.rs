//! IRP dispatch: CREATE, CLOSE, CLEANUP and DEVICE_CONTROL.

use core::sync::atomic::{AtomicU64, Ordering};

use afunix_proto::{DriverStats, DriverVersion, IOCTL_AFUNIX_STATS};
use windows_sys::Wdk::Foundation::{DEVICE_OBJECT, IRP};
use windows_sys::Win32::Foundation::{
    NTSTATUS, STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
};
use zerocopy::IntoBytes;

use super::debug::kprint;
use super::pool;
use super::request::Request;

/// This driver's version, from its Cargo manifest.
pub const VERSION: DriverVersion = DriverVersion::from_parts(
    env!("CARGO_PKG_VERSION_MAJOR"),
    env!("CARGO_PKG_VERSION_MINOR"),
    env!("CARGO_PKG_VERSION_PATCH"),
);

/// File objects open on the device: counted up at CREATE and down at CLOSE.
static OPEN_HANDLES: AtomicU64 = AtomicU64::new(0);

pub unsafe extern "system" fn create(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. The I/O manager passes each IRP to exactly one dispatch routine, uncompleted.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    OPEN_HANDLES.fetch_add(1, Ordering::Relaxed);
    request.complete(STATUS_SUCCESS, 0)
}

pub unsafe extern "system" fn close(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. As in `create`.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    // CLOSE comes once per successful CREATE, so this never goes below zero; saturate anyway
    // rather than wrap if a kernel ever sent one too many.
    let _ = OPEN_HANDLES.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    request.complete(STATUS_SUCCESS, 0)
}

/// CLEANUP (last user handle closed; Windows sends it, Wine never does). Nothing is pending
/// on a handle yet, so there is nothing to flush.
pub unsafe extern "system" fn cleanup(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. As in `create`.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    request.complete(STATUS_SUCCESS, 0)
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
    match params.io_control_code {
        IOCTL_AFUNIX_STATS => stats(request, params.output_buffer_length),
        code => {
            kprint!("unknown IOCTL {:#010x}", code);
            request.complete(STATUS_INVALID_DEVICE_REQUEST, 0)
        }
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
    kprint!(
        "unsupported request, major function {}",
        request.stack().map_or(255, |s| s.MajorFunction)
    );
    request.complete(STATUS_INVALID_DEVICE_REQUEST, 0)
}

/// IOCTL_AFUNIX_STATS (METHOD_BUFFERED): writes a [`DriverStats`] to the system buffer.
fn stats(request: Request, output_length: u32) -> NTSTATUS {
    let reply = DriverStats::new(
        VERSION,
        OPEN_HANDLES.load(Ordering::Relaxed),
        pool::bytes_in_use(),
    );
    let bytes = reply.as_bytes();
    if (output_length as usize) < bytes.len() {
        return request.complete(STATUS_BUFFER_TOO_SMALL, 0);
    }
    let buffer = request.system_buffer();
    if buffer.is_null() {
        return request.complete(STATUS_INVALID_PARAMETER, 0);
    }
    // SAFETY:
    // 1. For METHOD_BUFFERED the system buffer holds at least OutputBufferLength bytes, which
    //    we checked is >= bytes.len().
    // 2. The system buffer is pool memory of its own and cannot overlap `reply` on our stack.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer, bytes.len()) };
    request.complete(STATUS_SUCCESS, bytes.len())
}
