//! The driver's device: open it, ask it for STATS, read its security back.

use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, OwnedHandle};
use std::ptr;

use afunix_proto::{DriverStats, IOCTL_AFUNIX_STATS};
use windows_sys::Win32::Foundation::{GENERIC_READ, GENERIC_WRITE, HLOCAL, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    DACL_SECURITY_INFORMATION, LABEL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
};
use windows_sys::Win32::Storage::FileSystem::{FILE_ATTRIBUTE_NORMAL, READ_CONTROL};

use super::wide;
use crate::channel::{Data, io_error};

/// What the device's security is read and rendered as: its DACL and its mandatory label
/// (`afunix_proto::security::DEVICE_SDDL`).
const DEVICE_SECURITY_INFORMATION: u32 = DACL_SECURITY_INFORMATION | LABEL_SECURITY_INFORMATION;

/// An open handle on `\\.\AfUnixRs`.
#[derive(Debug)]
pub struct Device {
    handle: OwnedHandle,
}

impl Device {
    /// Opens the device for reading and writing (what a socket needs) and READ_CONTROL (so
    /// its security can be read back).
    pub fn open() -> io::Result<Device> {
        let handle = super::open_device(
            GENERIC_READ | GENERIC_WRITE | READ_CONTROL,
            FILE_ATTRIBUTE_NORMAL,
        )?;
        Ok(Device { handle })
    }

    /// IOCTL_AFUNIX_STATS, decoded and checked. Only administrators may read it: anyone
    /// else gets EACCES (`io::ErrorKind::PermissionDenied`; `afunix::errno_of` gives EACCES).
    pub fn stats(&self) -> io::Result<DriverStats> {
        let mut reply = [0u8; 256];
        let returned = self.ioctl(IOCTL_AFUNIX_STATS, &[], &mut reply)?;
        let reply = reply.get(..returned).unwrap_or(&[]);
        DriverStats::decode(reply)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    }

    /// A synchronous IOCTL: returns the number of output bytes. Issued as an
    /// NtDeviceIoControlFile, so that a failure carries the driver's errno without loss (a
    /// Win32 DeviceIoControl would turn the driver's status codes into one Win32 error).
    pub fn ioctl(&self, code: u32, input: &[u8], output: &mut [u8]) -> io::Result<usize> {
        super::transport::ioctl(
            self.handle.as_handle(),
            code,
            input,
            Data::Out(output),
            None,
        )
        .map_err(io_error)
    }

    /// The device's DACL and mandatory label as SDDL, read through this handle.
    pub fn security_sddl(&self) -> io::Result<String> {
        let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
        // SAFETY:
        // 1. The handle is open with READ_CONTROL (enough for the DACL and the label); the
        //    out pointers we do not want are null, and `descriptor` receives a LocalAlloc'd
        //    block we free below.
        let error = unsafe {
            GetSecurityInfo(
                self.handle.as_raw_handle(),
                SE_KERNEL_OBJECT,
                DEVICE_SECURITY_INFORMATION,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                &mut descriptor,
            )
        };
        if error != 0 {
            return Err(io::Error::from_raw_os_error(error as i32));
        }
        let descriptor = LocalBlock(descriptor);
        sddl_of(descriptor.0)
    }
}

/// `sddl` as Windows renders it back: parsed into a descriptor and rendered again (its DACL
/// and label), so that it can be compared with what [`Device::security_sddl`] reads.
pub fn canonical_sddl(sddl: &str) -> io::Result<String> {
    let text = wide(sddl);
    let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY:
    // 1. `text` is NUL-terminated; `descriptor` receives a LocalAlloc'd block freed below; the
    //    size out-pointer may be null.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            text.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let descriptor = LocalBlock(descriptor);
    sddl_of(descriptor.0)
}

fn sddl_of(descriptor: PSECURITY_DESCRIPTOR) -> io::Result<String> {
    let mut text: *mut u16 = ptr::null_mut();
    let mut len = 0u32;
    // SAFETY:
    // 1. `descriptor` is a valid security descriptor owned by the caller; `text` receives a
    //    LocalAlloc'd string freed below.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor,
            SDDL_REVISION_1,
            DEVICE_SECURITY_INFORMATION,
            &mut text,
            &mut len,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let block = LocalBlock(text.cast());
    // `len` counts the terminating NUL.
    let units = len.saturating_sub(1) as usize;
    // SAFETY:
    // 1. On success `text` points at `len` UTF-16 units, which live until `block` drops.
    let slice = unsafe { std::slice::from_raw_parts(text, units) };
    let sddl = String::from_utf16_lossy(slice);
    drop(block);
    Ok(sddl)
}

/// A block the system allocated with LocalAlloc for us to free.
struct LocalBlock(*mut core::ffi::c_void);

impl Drop for LocalBlock {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY:
            // 1. The pointer came from a function documented to LocalAlloc it, and is freed once.
            unsafe { LocalFree(self.0 as HLOCAL) };
        }
    }
}
