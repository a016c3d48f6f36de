//! `DriverEntry` and the framework's callbacks: a non-PnP driver with one control device,
//! `\Device\AfUnixRs` (the WDM driver's name, DACL and label), whose requests go down the
//! shared request path (`afunix_kernel::requests`).
//!
//! - **Device control** starts in `EvtIoInCallerContext`, in the thread of the program that
//!   sent it: the request path resolves socket files, handles and the caller's identity in the
//!   caller's context, and that callback is where KMDF guarantees it. A request that completes
//!   at once is done there. One that may wait in the engine (RECV, SEND, ACCEPT, CONNECT,
//!   POLL: `afunix_device::path::may_pend`) is only resolved there, its resolution kept in
//!   the request's context, and goes on to the default queue, which presents it to
//!   `EvtIoDeviceControl` to be executed: a request must have come from a queue to be made
//!   cancelable (`WdfRequestMarkCancelableEx` refuses any other).
//! - **Read and write** need no caller context and go straight to the default queue, which
//!   dispatches in parallel (`EvtIoRead`, `EvtIoWrite`); zero-length ones are presented too,
//!   since a zero-length datagram is a message.
//! - A request cancelled while still queued comes to `EvtIoCanceledOnQueue`, which gives up
//!   its resolution; the request's context cleanup does the same for any left behind.
//! - **Files**: `EvtDeviceFileCreate`, `EvtFileCleanup` and `EvtFileClose`, with the socket's
//!   key in the file object's context.

use core::ptr;

use afunix_kernel::debug::kprint;
use afunix_kernel::requests::{self, Control};
use afunix_kernel::{handles, security, sockets};
use afunix_ntos::static_unicode_string;
use afunix_proto::ioctl::FILE_DEVICE_AFUNIX;
use afunix_proto::names::{DEVICE_NAME_UTF16, DOS_DEVICE_NAME_UTF16};
use afunix_proto::security::DEVICE_DACL_SDDL_DEVOBJ_UTF16;
use windows_sys::Wdk::Foundation::DRIVER_OBJECT;
use windows_sys::Wdk::System::SystemServices::FILE_DEVICE_SECURE_OPEN;
use windows_sys::Win32::Foundation::{
    NTSTATUS, STATUS_CANCELLED, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_REQUEST,
    STATUS_SUCCESS, UNICODE_STRING,
};

use crate::request::{
    FILE_CONTEXT, Kind, REQUEST_CONTEXT, Request, file_of, request_cleanup, set_file,
};
use crate::wdf::{
    PWDFDEVICE_INIT, WDF_DEVICE_IO_DIRECT, WDF_DRIVER_CONFIG, WDF_DRIVER_INIT_NON_PNP_DRIVER,
    WDF_FALSE, WDF_FILEOBJECT_CONFIG, WDF_FILEOBJECT_WDF_CANNOT_USE_FS_CONTEXTS,
    WDF_IO_QUEUE_CONFIG, WDF_IO_QUEUE_DISPATCH_PARALLEL, WDF_OBJECT_ATTRIBUTES,
    WDF_REQUEST_PARAMETERS, WDF_REQUEST_TYPE_DEVICE_CONTROL, WDF_USE_DEFAULT, WDFDEVICE, WDFDRIVER,
    WDFFILEOBJECT, WDFQUEUE, WDFREQUEST, WdfControlDeviceInitAllocate,
    WdfControlFinishInitializing, WdfDeviceCreate, WdfDeviceCreateSymbolicLink,
    WdfDeviceEnqueueRequest, WdfDeviceInitAssignName, WdfDeviceInitFree,
    WdfDeviceInitSetCharacteristics, WdfDeviceInitSetDeviceType, WdfDeviceInitSetExclusive,
    WdfDeviceInitSetFileObjectConfig, WdfDeviceInitSetIoInCallerContextCallback,
    WdfDeviceInitSetIoType, WdfDeviceInitSetRequestAttributes, WdfDeviceWdmGetDeviceObject,
    WdfDriverCreate, WdfIoQueueCreate, WdfObjectDelete, WdfRequestComplete,
    WdfRequestGetParameters,
};

const DEVICE_NAME: UNICODE_STRING = static_unicode_string(&DEVICE_NAME_UTF16);
const DOS_DEVICE_NAME: UNICODE_STRING = static_unicode_string(&DOS_DEVICE_NAME_UTF16);
/// The device's DACL, in the SDDL `WdfControlDeviceInitAllocate` requires; `security::secure`
/// then sets it again with the mandatory label and reads both back, as for the WDM device.
const DEVICE_SDDL: UNICODE_STRING = static_unicode_string(&DEVICE_DACL_SDDL_DEVOBJ_UTF16);

/// The pool tag the framework uses for its allocations on our behalf: ours.
const POOL_TAG: u32 = afunix_proto::names::POOL_TAG;

/// The driver's entry point, called by our loader bootstrap once bound to KMDF.
///
/// # Safety
/// Called once, from `FxDriverEntry`, with the I/O manager's driver object and registry path.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DRIVER_OBJECT,
    registry_path: *const UNICODE_STRING,
) -> NTSTATUS {
    // SAFETY:
    // 1. The I/O manager's registry path, during DriverEntry.
    unsafe { requests::load(registry_path, afunix_proto::FRONT_END_KMDF) };

    let config = WDF_DRIVER_CONFIG {
        Size: core::mem::size_of::<WDF_DRIVER_CONFIG>() as u32,
        EvtDriverDeviceAdd: None,
        EvtDriverUnload: Some(unload),
        DriverInitFlags: WDF_DRIVER_INIT_NON_PNP_DRIVER,
        DriverPoolTag: POOL_TAG,
    };
    let mut framework_driver: WDFDRIVER = ptr::null_mut();
    // SAFETY:
    // 1. The I/O manager's objects; `config` is a complete WDF_DRIVER_CONFIG; no attributes.
    let status = unsafe {
        WdfDriverCreate(
            driver,
            registry_path,
            ptr::null(),
            &config,
            &mut framework_driver,
        )
    };
    if status < 0 {
        kprint!("WdfDriverCreate failed: {:#010x}", status);
        requests::unload();
        return status;
    }
    let status = create_device(framework_driver);
    if status < 0 {
        requests::unload();
        return status;
    }
    kprint!("loaded: {} ready", afunix_proto::names::DEVICE_NAME);
    STATUS_SUCCESS
}

/// The control device: named, secured, with its callbacks and its default queue.
fn create_device(driver: WDFDRIVER) -> NTSTATUS {
    // SAFETY:
    // 1. `driver` is the framework driver just created; the SDDL is a valid counted string.
    let mut init: PWDFDEVICE_INIT = unsafe { WdfControlDeviceInitAllocate(driver, &DEVICE_SDDL) };
    if init.is_null() {
        kprint!("WdfControlDeviceInitAllocate failed");
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    // SAFETY:
    // 1. `init` is ours until WdfDeviceCreate; the name is a valid counted string.
    let status = unsafe { WdfDeviceInitAssignName(init, &DEVICE_NAME) };
    if status < 0 {
        kprint!("WdfDeviceInitAssignName failed: {:#010x}", status);
        // SAFETY:
        // 1. WdfDeviceCreate was not called: the init structure is still ours to free.
        unsafe { WdfDeviceInitFree(init) };
        return status;
    }
    // SAFETY:
    // 1. (This call and each below, until WdfDeviceCreate.)
    // 1. `init` is ours; the configurations and attributes are complete and live for the
    //    call; the callbacks have the prototypes KMDF declares for them.
    unsafe { WdfDeviceInitSetIoType(init, WDF_DEVICE_IO_DIRECT) };
    // SAFETY:
    // 1. As above.
    unsafe { WdfDeviceInitSetExclusive(init, 0) };
    // The WDM device's type, which the IOCTL codes name.
    // SAFETY:
    // 1. As above.
    unsafe { WdfDeviceInitSetDeviceType(init, FILE_DEVICE_AFUNIX) };
    // Every open is checked against the device's DACL, whatever name follows the device's, as
    // for the WDM device.
    // SAFETY:
    // 1. As above.
    unsafe { WdfDeviceInitSetCharacteristics(init, FILE_DEVICE_SECURE_OPEN, 1) };
    let file_config = WDF_FILEOBJECT_CONFIG {
        Size: core::mem::size_of::<WDF_FILEOBJECT_CONFIG>() as u32,
        EvtDeviceFileCreate: Some(file_create),
        EvtFileClose: Some(file_close),
        EvtFileCleanup: Some(file_cleanup),
        AutoForwardCleanupClose: WDF_USE_DEFAULT,
        FileObjectClass: WDF_FILEOBJECT_WDF_CANNOT_USE_FS_CONTEXTS,
    };
    let file_attributes = WDF_OBJECT_ATTRIBUTES::with_context(&FILE_CONTEXT.0);
    // SAFETY:
    // 1. As above.
    unsafe { WdfDeviceInitSetFileObjectConfig(init, &file_config, &file_attributes) };
    let request_attributes = WDF_OBJECT_ATTRIBUTES {
        EvtCleanupCallback: Some(request_cleanup),
        ..WDF_OBJECT_ATTRIBUTES::with_context(&REQUEST_CONTEXT.0)
    };
    // SAFETY:
    // 1. As above.
    unsafe { WdfDeviceInitSetRequestAttributes(init, &request_attributes) };
    // SAFETY:
    // 1. As above.
    unsafe { WdfDeviceInitSetIoInCallerContextCallback(init, Some(in_caller_context)) };

    let mut device: WDFDEVICE = ptr::null_mut();
    // SAFETY:
    // 1. `init` is complete; on success the framework takes it (and nulls our pointer), on
    //    failure it is still ours to free.
    let status = unsafe { WdfDeviceCreate(&mut init, ptr::null(), &mut device) };
    if status < 0 {
        kprint!("WdfDeviceCreate failed: {:#010x}", status);
        if !init.is_null() {
            // SAFETY:
            // 1. As just said.
            unsafe { WdfDeviceInitFree(init) };
        }
        return status;
    }
    let status = finish_device(device);
    if status < 0 {
        // SAFETY:
        // 1. A control device is deleted by its driver; nothing uses it yet.
        unsafe { WdfObjectDelete(device) };
    }
    status
}

/// The device's link, queue and security, then opened to callers.
fn finish_device(device: WDFDEVICE) -> NTSTATUS {
    // SAFETY:
    // 1. `device` was just created; the link name is a valid counted string.
    let status = unsafe { WdfDeviceCreateSymbolicLink(device, &DOS_DEVICE_NAME) };
    if status < 0 {
        kprint!("WdfDeviceCreateSymbolicLink failed: {:#010x}", status);
        return status;
    }
    let queue_config = WDF_IO_QUEUE_CONFIG {
        Size: core::mem::size_of::<WDF_IO_QUEUE_CONFIG>() as u32,
        DispatchType: WDF_IO_QUEUE_DISPATCH_PARALLEL,
        // A control device's queues may not be power-managed.
        PowerManaged: WDF_FALSE,
        AllowZeroLengthRequests: 1,
        DefaultQueue: 1,
        EvtIoDefault: None,
        EvtIoRead: Some(io_read),
        EvtIoWrite: Some(io_write),
        EvtIoDeviceControl: Some(io_device_control),
        EvtIoInternalDeviceControl: None,
        EvtIoStop: None,
        EvtIoResume: None,
        EvtIoCanceledOnQueue: Some(io_canceled_on_queue),
        NumberOfPresentedRequests: u32::MAX,
        Driver: ptr::null_mut(),
    };
    let mut queue: WDFQUEUE = ptr::null_mut();
    // SAFETY:
    // 1. `device` is ours; the configuration is complete and lives for the call.
    let status = unsafe { WdfIoQueueCreate(device, &queue_config, ptr::null(), &mut queue) };
    if status < 0 {
        kprint!("WdfIoQueueCreate failed: {:#010x}", status);
        return status;
    }
    // SAFETY:
    // 1. `device` is ours.
    let wdm = unsafe { WdfDeviceWdmGetDeviceObject(device) };
    let status = security::secure(wdm);
    if status < 0 {
        kprint!("setting the device's security failed: {:#010x}", status);
        return status;
    }
    handles::set_device(wdm);
    // SAFETY:
    // 1. The device is complete: this clears DO_DEVICE_INITIALIZING, opening it to callers.
    unsafe { WdfControlFinishInitializing(device) };
    STATUS_SUCCESS
}

/// EVT_WDF_DRIVER_UNLOAD: the framework deletes the control device; the engine goes.
unsafe extern "system" fn unload(_driver: WDFDRIVER) {
    requests::unload();
}

/// EVT_WDF_DEVICE_FILE_CREATE: a new socket, keyed by the file object.
unsafe extern "system" fn file_create(
    _device: WDFDEVICE,
    request: WDFREQUEST,
    file: WDFFILEOBJECT,
) {
    let status = match set_file(file) {
        Some(key) => requests::create(key),
        None => STATUS_INSUFFICIENT_RESOURCES,
    };
    // SAFETY:
    // 1. The create request is ours to complete, once.
    unsafe { WdfRequestComplete(request, status) };
}

/// EVT_WDF_FILE_CLEANUP: the last handle closed; the socket goes, completing its requests.
unsafe extern "system" fn file_cleanup(file: WDFFILEOBJECT) {
    requests::cleanup::<Request>(file_of(file));
}

/// EVT_WDF_FILE_CLOSE: the file object goes.
unsafe extern "system" fn file_close(file: WDFFILEOBJECT) {
    requests::close::<Request>(file_of(file));
}

/// EVT_WDF_IO_IN_CALLER_CONTEXT: device control resolved here, in the caller's thread, and
/// done here unless it may wait; what may wait, and every other request, goes on to the
/// default queue.
unsafe extern "system" fn in_caller_context(device: WDFDEVICE, handle: WDFREQUEST) {
    let mut parameters = WDF_REQUEST_PARAMETERS::default();
    // SAFETY:
    // 1. The framework presents a request we now own; `parameters` is initialised as
    //    WDF_REQUEST_PARAMETERS_INIT does.
    unsafe { WdfRequestGetParameters(handle, &mut parameters) };
    if parameters.Type != WDF_REQUEST_TYPE_DEVICE_CONTROL {
        // SAFETY:
        // 1. A request presented here may be queued on the device's default queue.
        let status = unsafe { WdfDeviceEnqueueRequest(device, handle) };
        if status < 0 {
            // SAFETY:
            // 1. Not queued, so still ours to complete.
            unsafe { WdfRequestComplete(handle, status) };
        }
        return;
    }
    // SAFETY:
    // 1. Presented to us, not yet completed; only the request path completes it now.
    let request = unsafe { Request::presented(handle, Kind::Control, parameters.IoControlCode) };
    // SAFETY:
    // 1. The input (the system buffer, valid until the request completes) is used only by
    //    the decoded request and its resolution, which are executed (or abandoned) before
    //    the request is completed or pending and before any reply is written
    //    (`requests::device_control_staged`'s contract): at once, or from the queue.
    let input: &'static [u8] = unsafe { request.control_input(parameters.InputBufferLength) };
    let (request, staged) = match requests::device_control_staged(
        request,
        parameters.IoControlCode,
        input,
        parameters.OutputBufferLength,
    ) {
        Control::Done(_) => return,
        Control::Staged(request, staged) => (request, staged),
    };
    if !request.stash(staged) {
        let _ = request.complete(STATUS_INSUFFICIENT_RESOURCES, 0);
        return;
    }
    // SAFETY:
    // 1. A request presented here may be queued on the device's default queue; from here the
    //    queue owns it, with its resolution in its context.
    let status = unsafe { WdfDeviceEnqueueRequest(device, request.handle()) };
    if status < 0 {
        // Not queued, so still ours: give up its resolution and complete it.
        let _ = request.give_up(status);
    }
}

/// EVT_WDF_IO_QUEUE_IO_DEVICE_CONTROL: a device control resolved in `in_caller_context`,
/// now executed; if it waits, it is cancelable, having come from the queue.
unsafe extern "system" fn io_device_control(
    _queue: WDFQUEUE,
    handle: WDFREQUEST,
    _output_length: usize,
    _input_length: usize,
    code: u32,
) {
    // SAFETY:
    // 1. The queue presents a request we now own.
    let (request, staged) = unsafe { Request::queued(handle, code) };
    match staged {
        Some(staged) => {
            let _ = sockets::run(request, staged);
        }
        // Every device control that reaches the queue was resolved first; one that was not
        // (none can be) is refused rather than executed unresolved.
        None => {
            let _ = request.complete(STATUS_INVALID_DEVICE_REQUEST, 0);
        }
    }
}

/// EVT_WDF_IO_QUEUE_IO_CANCELED_ON_QUEUE: a request cancelled before the queue presented it
/// (a device control's resolution is given up).
unsafe extern "system" fn io_canceled_on_queue(_queue: WDFQUEUE, handle: WDFREQUEST) {
    // SAFETY:
    // 1. The framework hands the cancelled request back to us to complete.
    let request = unsafe { Request::presented_cancelled(handle) };
    let _ = request.give_up(STATUS_CANCELLED);
}

/// EVT_WDF_IO_QUEUE_IO_READ: RECV on the caller's pages.
unsafe extern "system" fn io_read(_queue: WDFQUEUE, handle: WDFREQUEST, _length: usize) {
    // SAFETY:
    // 1. The queue presents a request we now own.
    let request = unsafe { Request::presented(handle, Kind::Read, 0) };
    let _ = requests::read_write(request, true);
}

/// EVT_WDF_IO_QUEUE_IO_WRITE: SEND from the caller's pages.
unsafe extern "system" fn io_write(_queue: WDFQUEUE, handle: WDFREQUEST, _length: usize) {
    // SAFETY:
    // 1. The queue presents a request we now own.
    let request = unsafe { Request::presented(handle, Kind::Write, 0) };
    let _ = requests::read_write(request, false);
}
