//! `DriverEntry` and the framework's callbacks: a non-PnP driver with one control device,
//! `\Device\AfUnixRs` (the WDM driver's name, DACL and label), whose requests go down the
//! shared request path (`afunix_kernel::requests`).
//!
//! - **Device control** is served in `EvtIoInCallerContext`, in the thread of the program that
//!   sent it: the request path resolves socket files, handles and the caller's identity in the
//!   caller's context, and that callback is where KMDF guarantees it.
//! - **Read and write** need no caller context and are handed to the default queue, which
//!   dispatches in parallel (`EvtIoRead`, `EvtIoWrite`); zero-length ones are presented too,
//!   since a zero-length datagram is a message.
//! - **Files**: `EvtDeviceFileCreate`, `EvtFileCleanup` and `EvtFileClose`, with the socket's
//!   key in the file object's context.

use core::ptr;

use afunix_kernel::debug::kprint;
use afunix_kernel::{handles, requests, security};
use afunix_ntos::static_unicode_string;
use afunix_proto::ErrnoCodes;
use afunix_proto::names::{DEVICE_NAME_UTF16, DOS_DEVICE_NAME_UTF16};
use afunix_proto::security::DEVICE_DACL_SDDL_DEVOBJ_UTF16;
use windows_sys::Wdk::Foundation::DRIVER_OBJECT;
use windows_sys::Wdk::System::SystemServices::FILE_DEVICE_SECURE_OPEN;
use windows_sys::Win32::Foundation::{
    NTSTATUS, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, UNICODE_STRING,
};

use crate::request::{FILE_CONTEXT, Kind, REQUEST_CONTEXT, Request, file_of, set_file};
use crate::wdf::{
    PWDFDEVICE_INIT, WDF_DEVICE_IO_DIRECT, WDF_DRIVER_CONFIG, WDF_DRIVER_INIT_NON_PNP_DRIVER,
    WDF_FALSE, WDF_FILEOBJECT_CONFIG, WDF_FILEOBJECT_WDF_CANNOT_USE_FS_CONTEXTS,
    WDF_IO_QUEUE_CONFIG, WDF_IO_QUEUE_DISPATCH_PARALLEL, WDF_OBJECT_ATTRIBUTES,
    WDF_REQUEST_PARAMETERS, WDF_REQUEST_TYPE_DEVICE_CONTROL, WDF_USE_DEFAULT, WDFDEVICE, WDFDRIVER,
    WDFFILEOBJECT, WDFQUEUE, WDFREQUEST, WdfControlDeviceInitAllocate,
    WdfControlFinishInitializing, WdfDeviceCreate, WdfDeviceCreateSymbolicLink,
    WdfDeviceEnqueueRequest, WdfDeviceInitAssignName, WdfDeviceInitFree,
    WdfDeviceInitSetCharacteristics, WdfDeviceInitSetExclusive, WdfDeviceInitSetFileObjectConfig,
    WdfDeviceInitSetIoInCallerContextCallback, WdfDeviceInitSetIoType,
    WdfDeviceInitSetRequestAttributes, WdfDeviceWdmGetDeviceObject, WdfDriverCreate,
    WdfIoQueueCreate, WdfObjectDelete, WdfRequestComplete, WdfRequestGetParameters,
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
    let request_attributes = WDF_OBJECT_ATTRIBUTES::with_context(&REQUEST_CONTEXT.0);
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
        EvtIoDeviceControl: None,
        EvtIoInternalDeviceControl: None,
        EvtIoStop: None,
        EvtIoResume: None,
        EvtIoCanceledOnQueue: None,
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
        Some(key) => match requests::create(key) {
            Ok(()) => STATUS_SUCCESS,
            Err(e) => e.to_ntstatus() as i32,
        },
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

/// EVT_WDF_IO_IN_CALLER_CONTEXT: device control served here, in the caller's thread; every
/// other request goes on to the default queue.
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
    // 1. The input is used only to decode this request and hand its pieces to the engine,
    //    before it is completed or pending and before any reply is written
    //    (`requests::device_control`'s contract).
    let input = unsafe { request.control_input(parameters.InputBufferLength) };
    let _ = requests::device_control(
        request,
        parameters.IoControlCode,
        input,
        parameters.OutputBufferLength,
    );
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
