//! IRP dispatch: every major function the driver handles, handed to the shared request path
//! (`afunix_kernel::requests`) as a [`Request`].

use afunix_kernel::requests;
use windows_sys::Wdk::Foundation::{DEVICE_OBJECT, IRP};
use windows_sys::Wdk::System::SystemServices::{IRP_MJ_READ, IRP_MJ_WRITE};
use windows_sys::Win32::Foundation::{
    NTSTATUS, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
};

use super::request::Request;

pub unsafe extern "system" fn create(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. The I/O manager passes each IRP to exactly one dispatch routine, uncompleted.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let status = requests::create(request.file_id());
    request.complete(status, 0)
}

pub unsafe extern "system" fn close(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. As in `create`.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    requests::close::<Request>(request.file_id());
    request.complete(STATUS_SUCCESS, 0)
}

/// CLEANUP: the last user handle closed (Windows sends it; Wine never does).
pub unsafe extern "system" fn cleanup(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. As in `create`.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    requests::cleanup::<Request>(request.file_id());
    request.complete(STATUS_SUCCESS, 0)
}

/// READ and WRITE: RECV and SEND without flags, on the caller's pages (direct I/O).
pub unsafe extern "system" fn read_write(_device: *const DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY:
    // 1. As in `create`.
    let Some(request) = (unsafe { Request::from_dispatch(irp) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    match u32::from(request.major()) {
        IRP_MJ_READ => requests::read_write(request, true),
        IRP_MJ_WRITE => requests::read_write(request, false),
        _ => request.complete(STATUS_INVALID_DEVICE_REQUEST, 0),
    }
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
    //    is written into the system buffer (`requests::device_control`'s contract).
    let input = unsafe { request.system_input() };
    requests::device_control(
        request,
        params.io_control_code,
        input,
        params.output_buffer_length as usize,
    )
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
    requests::log_unknown(format_args!(
        "unsupported request, major function {}",
        request.major()
    ));
    request.complete(STATUS_INVALID_DEVICE_REQUEST, 0)
}
