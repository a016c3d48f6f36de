//! Turning a handle the caller passed in (ACCEPT's new socket, SOCKETPAIR's second one, POLL's
//! entries) into one of our files.
//!
//! The shared path has already refused every value that is not a user-mode handle value
//! (`afunix_proto::handle::is_user_handle`): kernel handles and pseudo-handles never get
//! here, so no lookup below can reach the system's handle table, where the driver's own brief
//! duplicates of other callers' sockets sit.
//!
//! 1. `ObReferenceObjectByHandle(UserMode)` in the caller's context, with the access the
//!    request needs: the kernel's own check of a user's handle (its table, its granted
//!    access). What Windows runs.
//! 2. Under Wine that call returns `STATUS_NOT_IMPLEMENTED` (and in kernel mode it would look
//!    in winedevice's table). Then, and only then: open the calling process
//!    (PROCESS_DUP_HANDLE), duplicate the caller's handle with the access it was granted into
//!    a kernel handle of ours, and check that granted access ourselves (`ZwQueryObject`)
//!    before referencing it. Just as strict: the handle is looked up in the caller's table
//!    and must have been opened for what the request does.
//!
//! Every failure is one error, ENOTSOCK (the shared path makes it so).

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use afunix_core::Errno;
use afunix_device::FileId;
use afunix_ntos::{
    CURRENT_PROCESS, DUPLICATE_SAME_ACCESS, IoFileObjectType, IoGetCurrentProcess, KERNEL_MODE,
    OBJ_KERNEL_HANDLE, ObOpenObjectByPointer, ObReferenceObjectByHandle, ObfDereferenceObject,
    PROCESS_DUP_HANDLE, USER_MODE, ZwClose, ZwDuplicateObject, ZwQueryObject,
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
#[derive(Debug)]
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
#[derive(Debug)]
pub struct KernelHandle(pub HANDLE);

impl Drop for KernelHandle {
    fn drop(&mut self) {
        // SAFETY:
        // 1. A kernel handle we opened, closed once.
        unsafe { ZwClose(self.0) };
    }
}

/// The calling process, as a kernel handle with PROCESS_DUP_HANDLE. Call in the caller's
/// context (a dispatch routine).
pub fn open_calling_process() -> Result<KernelHandle, Errno> {
    let mut process: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. IoGetCurrentProcess has no preconditions in a dispatch routine.
    let current = unsafe { IoGetCurrentProcess() };
    // SAFETY:
    // 1. `current` is the live calling process; a kernel handle with PROCESS_DUP_HANDLE, in
    //    kernel mode, with no type check needed; `process` is a valid out pointer.
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
        return Err(Errno::ENOMEM);
    }
    Ok(KernelHandle(process))
}

/// `STATUS_NOT_IMPLEMENTED`: Wine's answer to a user-mode reference.
const STATUS_NOT_IMPLEMENTED: i32 = 0xC000_0002_u32 as i32;

/// References the file object behind the caller's handle `handle`, which must have been
/// opened with at least `access` (`FILE_*` rights) and be a file on our device. Call in the
/// caller's context (a dispatch routine), at PASSIVE_LEVEL, with a value the shared path
/// accepted as a user handle.
pub fn reference(handle: u64, access: u32) -> Result<FileRef, Errno> {
    let mut object: *mut c_void = ptr::null_mut();
    // SAFETY:
    // 1. Reads the kernel's IoFileObjectType variable (a data import).
    let file_type = unsafe { IoFileObjectType };
    // SAFETY:
    // 1. In the caller's context: a user-mode lookup in the caller's own handle table, with
    //    the type and the granted access checked by the kernel; `object` is a valid out
    //    pointer.
    let status = unsafe {
        ObReferenceObjectByHandle(
            handle as HANDLE,
            access,
            file_type,
            USER_MODE,
            &mut object,
            ptr::null_mut(),
        )
    };
    if status == STATUS_NOT_IMPLEMENTED {
        return reference_by_duplicate(handle, access);
    }
    if status < 0 || object.is_null() {
        return Err(Errno::ENOTSOCK);
    }
    ours(FileRef { object })
}

/// The file is one of ours, or ENOTSOCK (dropping the reference).
fn ours(file: FileRef) -> Result<FileRef, Errno> {
    if !is_ours(file.object) {
        return Err(Errno::ENOTSOCK);
    }
    Ok(file)
}

/// Whether a referenced FILE_OBJECT is on our device.
pub fn is_ours(object: *mut c_void) -> bool {
    // SAFETY:
    // 1. `object` is a referenced FILE_OBJECT (the caller checked the type);
    //    DeviceObject is a plain field of it.
    let device = unsafe { (*object.cast::<FILE_OBJECT>()).DeviceObject };
    device == DEVICE.load(Ordering::Acquire)
}

/// `OBJECT_BASIC_INFORMATION`, of which only the granted access is read.
#[repr(C)]
#[derive(Default)]
struct ObjectBasicInformation {
    attributes: u32,
    granted_access: u32,
    handle_count: u32,
    pointer_count: u32,
    reserved: [u32; 10],
}

/// `ObjectBasicInformation`.
const OBJECT_BASIC_INFORMATION: i32 = 0;

/// The same lookup where Wine cannot do a user-mode reference (module comment, 2).
fn reference_by_duplicate(handle: u64, access: u32) -> Result<FileRef, Errno> {
    let process = open_calling_process().map_err(|_| Errno::ENOTSOCK)?;
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
        return Err(Errno::ENOTSOCK);
    }
    let duplicate = KernelHandle(duplicate);
    let mut info = ObjectBasicInformation::default();
    let mut returned = 0u32;
    // SAFETY:
    // 1. `duplicate` is our kernel handle; `info` is a writable OBJECT_BASIC_INFORMATION of
    //    the size passed.
    let status = unsafe {
        ZwQueryObject(
            duplicate.0,
            OBJECT_BASIC_INFORMATION,
            (&raw mut info).cast(),
            size_of::<ObjectBasicInformation>() as u32,
            &mut returned,
        )
    };
    // DUPLICATE_SAME_ACCESS copied the access the caller's handle was granted.
    if status < 0 || info.granted_access & access != access {
        return Err(Errno::ENOTSOCK);
    }
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
    ours(FileRef { object })
}
