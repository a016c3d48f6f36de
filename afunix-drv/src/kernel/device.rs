//! `DriverEntry` and `DriverUnload`: the device object, its security, and its link.

use core::ptr;

use afunix_kernel::debug::kprint;
use afunix_kernel::{handles, requests, security};
use afunix_ntos::{
    IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink,
    static_unicode_string,
};
use afunix_proto::ioctl::FILE_DEVICE_AFUNIX;
use afunix_proto::names::{DEVICE_NAME_UTF16, DOS_DEVICE_NAME_UTF16};
use windows_sys::Wdk::Foundation::{DEVICE_OBJECT, DRIVER_OBJECT};
use windows_sys::Wdk::System::SystemServices::{
    FILE_DEVICE_SECURE_OPEN, IRP_MJ_CLEANUP, IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL,
    IRP_MJ_READ, IRP_MJ_WRITE,
};
use windows_sys::Win32::Foundation::{NTSTATUS, STATUS_SUCCESS, UNICODE_STRING};

use super::dispatch;

/// `DO_DIRECT_IO`.
const DO_DIRECT_IO: u32 = 0x10;

const DEVICE_NAME: UNICODE_STRING = static_unicode_string(&DEVICE_NAME_UTF16);
const DOS_DEVICE_NAME: UNICODE_STRING = static_unicode_string(&DOS_DEVICE_NAME_UTF16);

fn nt_success(status: NTSTATUS) -> bool {
    status >= 0
}

/// The driver's entry point: creates `\Device\AfUnixRs` with its DACL and the
/// `\DosDevices\AfUnixRs` link, and installs the dispatch routines.
///
/// # Safety
/// Called once by the I/O manager with a valid driver object.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DRIVER_OBJECT,
    registry_path: *const UNICODE_STRING,
) -> NTSTATUS {
    // SAFETY:
    // 1. `registry_path` is the one the I/O manager gave us, and we are in DriverEntry.
    unsafe { requests::load(registry_path, afunix_proto::FRONT_END_WDM) };

    let mut device: *mut DEVICE_OBJECT = ptr::null_mut();
    // SAFETY:
    // 1. `driver` is the valid driver object we were called with; DEVICE_NAME is a valid
    //    counted string; `device` is a valid out pointer.
    let status = unsafe {
        IoCreateDevice(
            driver,
            0,
            &DEVICE_NAME,
            FILE_DEVICE_AFUNIX,
            FILE_DEVICE_SECURE_OPEN,
            0,
            &mut device,
        )
    };
    if !nt_success(status) {
        kprint!("IoCreateDevice failed: {:#010x}", status);
        requests::unload();
        return status;
    }

    let status = security::secure(device);
    if !nt_success(status) {
        kprint!("setting the device's security failed: {:#010x}", status);
        // SAFETY:
        // 1. `device` was created above and nothing else refers to it yet.
        unsafe { IoDeleteDevice(device) };
        requests::unload();
        return status;
    }

    // SAFETY:
    // 1. Both names are valid counted strings; the target device exists.
    let status = unsafe { IoCreateSymbolicLink(&DOS_DEVICE_NAME, &DEVICE_NAME) };
    if !nt_success(status) {
        kprint!("IoCreateSymbolicLink failed: {:#010x}", status);
        // SAFETY:
        // 1. As above.
        unsafe { IoDeleteDevice(device) };
        requests::unload();
        return status;
    }
    handles::set_device(device);
    // READ and WRITE come with MDLs (direct I/O): data moves between the caller's pages and
    // the engine with no intermediate copy.
    // SAFETY:
    // 1. The device was just created and is not yet visible to any I/O; its Flags are ours
    //    to set.
    unsafe { (*device).Flags |= DO_DIRECT_IO };

    // SAFETY:
    // 1. The I/O manager gives DriverEntry exclusive use of the driver object; we fill its
    //    dispatch table before returning, as WDM requires.
    let driver = unsafe { &mut *driver };
    for slot in driver.MajorFunction.iter_mut() {
        *slot = Some(dispatch::unsupported);
    }
    let routes = [
        (IRP_MJ_CREATE, dispatch::create as Dispatch),
        (IRP_MJ_CLOSE, dispatch::close),
        (IRP_MJ_CLEANUP, dispatch::cleanup),
        (IRP_MJ_DEVICE_CONTROL, dispatch::device_control),
        (IRP_MJ_READ, dispatch::read_write),
        (IRP_MJ_WRITE, dispatch::read_write),
    ];
    for (major, routine) in routes {
        if let Some(slot) = driver.MajorFunction.get_mut(major as usize) {
            *slot = Some(routine);
        }
    }
    driver.DriverUnload = Some(unload);
    kprint!("loaded: {} ready", afunix_proto::names::DEVICE_NAME);
    STATUS_SUCCESS
}

type Dispatch = unsafe extern "system" fn(
    *const DEVICE_OBJECT,
    *mut windows_sys::Wdk::Foundation::IRP,
) -> NTSTATUS;

/// Removes the link and the device. The I/O manager calls it only when no handle is open.
unsafe extern "system" fn unload(driver: *const DRIVER_OBJECT) {
    // SAFETY:
    // 1. DOS_DEVICE_NAME is the link DriverEntry created.
    let status = unsafe { IoDeleteSymbolicLink(&DOS_DEVICE_NAME) };
    if !nt_success(status) {
        kprint!("IoDeleteSymbolicLink failed: {:#010x}", status);
    }
    // SAFETY:
    // 1. `driver` is our valid driver object; DeviceObject is the one device we created
    //    (or null if there is none).
    let device = unsafe { (*driver).DeviceObject };
    if !device.is_null() {
        // SAFETY:
        // 1. No handle is open (unload is only called then), so nothing uses the device.
        unsafe { IoDeleteDevice(device) };
    }
    requests::unload();
}
