//! Turning a handle the caller passed in (ACCEPT's new socket, SOCKETPAIR's second one, POLL's
//! entries) into one of our files.
//!
//! `ObReferenceObjectByHandle(UserMode)` is what a driver would normally use, in the caller's
//! context. Under Wine it is not implemented, and in kernel mode it looks in the wrong handle
//! table (winedevice's). What works on both: open the calling process (PROCESS_DUP_HANDLE),
//! duplicate the caller's handle into the system handle table, and reference that in kernel
//! mode, checking it is a file object.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use afunix_core::Errno;
use afunix_device::FileId;
use afunix_ntos::{
    CURRENT_PROCESS, DUPLICATE_SAME_ACCESS, IoFileObjectType, IoGetCurrentProcess, KERNEL_MODE,
    OBJ_KERNEL_HANDLE, ObOpenObjectByPointer, ObReferenceObjectByHandle, ObfDereferenceObject,
    PROCESS_DUP_HANDLE, ZwClose, ZwDuplicateObject,
};
use windows_sys::Wdk::Foundation::{DEVICE_OBJECT, FILE_OBJECT};
use windows_sys::Win32::Foundation::HANDLE;

/// Our device object, to tell our file objects from everyone else's.
static DEVICE: AtomicPtr<DEVICE_OBJECT> = AtomicPtr::new(ptr::null_mut());

pub fn set_device(device: *mut DEVICE_OBJECT) {
    DEVICE.store(device, Ordering::Release);
}

/// A referenced file object of ours; the reference is dropped with it, after the request
/// that named it has been handed to the engine.
pub struct FileRef {
    object: *mut c_void,
}

impl FileRef {
    pub fn id(&self) -> FileId {
        FileId(self.object as u64)
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY:
        // 1. `object` was referenced by ObReferenceObjectByHandle and is dereferenced once.
        unsafe { ObfDereferenceObject(self.object) };
    }
}

/// A kernel handle the driver opened (OBJ_KERNEL_HANDLE), closed once, when dropped.
pub struct KernelHandle(pub HANDLE);

impl Drop for KernelHandle {
    fn drop(&mut self) {
        // SAFETY:
        // 1. A kernel handle we opened, closed once.
        unsafe { ZwClose(self.0) };
    }
}

/// References the file object behind `handle` in the calling process. EBADF if it is no
/// handle, ENOTSOCK if it is not a file opened on our device. Call in the caller's context
/// (a dispatch routine), at PASSIVE_LEVEL.
pub fn reference(handle: u64) -> Result<FileRef, Errno> {
    let mut process: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. IoGetCurrentProcess has no preconditions in a dispatch routine.
    let current = unsafe { IoGetCurrentProcess() };
    // SAFETY:
    // 1. `current` is the live calling process; a kernel handle with PROCESS_DUP_HANDLE, in
    //    kernel mode, with no type check needed.
    let status = unsafe {
        ObOpenObjectByPointer(
            current,
            OBJ_KERNEL_HANDLE,
            ptr::null_mut(),
            PROCESS_DUP_HANDLE,
            ptr::null_mut(),
            KERNEL_MODE,
            &mut process,
        )
    };
    if status < 0 {
        return Err(Errno::EBADF);
    }
    let process = KernelHandle(process);
    let mut duplicate: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. `process` is open with PROCESS_DUP_HANDLE; the source handle is only a value (an
    //    invalid one fails cleanly); the copy goes to the system handle table.
    let status = unsafe {
        ZwDuplicateObject(
            process.0,
            handle as HANDLE,
            CURRENT_PROCESS,
            &mut duplicate,
            0,
            OBJ_KERNEL_HANDLE,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if status < 0 {
        return Err(Errno::EBADF);
    }
    let duplicate = KernelHandle(duplicate);
    let mut object: *mut c_void = ptr::null_mut();
    // SAFETY:
    // 1. Reads the kernel's IoFileObjectType variable (a data import).
    let file_type = unsafe { IoFileObjectType };
    // SAFETY:
    // 1. `duplicate` is a kernel handle; asking for a file object in kernel mode; `object`
    //    is a valid out pointer.
    let status = unsafe {
        ObReferenceObjectByHandle(
            duplicate.0,
            0,
            file_type,
            KERNEL_MODE,
            &mut object,
            ptr::null_mut(),
        )
    };
    drop(duplicate);
    if status < 0 || object.is_null() {
        // Not a file at all (an event, a process ...): not a socket.
        return Err(Errno::ENOTSOCK);
    }
    let file = FileRef { object };
    // SAFETY:
    // 1. `object` is a referenced FILE_OBJECT (the type was checked); DeviceObject is a
    //    plain field of it.
    let device = unsafe { (*object.cast::<FILE_OBJECT>()).DeviceObject };
    if device != DEVICE.load(Ordering::Acquire) {
        return Err(Errno::ENOTSOCK);
    }
    Ok(file)
}
