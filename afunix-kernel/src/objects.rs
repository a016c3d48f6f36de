//! Objects passed with SENDMSG (SCM_RIGHTS): references taken in the sender's context, handles
//! made in the receiver's.
//!
//! The design rule this changes. Before, the driver never made a handle in a user process:
//! it only referenced handles the caller named. Now it makes one for each object a RECVMSG
//! receives, and only then: in the receiving process, with exactly the access the sender's
//! handle had, an object the sender held, and nothing else. The receiver owns the new handle.
//!
//! - Passing ([`pass`], the sender's context): the sender's handle is duplicated, with the
//!   access it was granted (`DUPLICATE_SAME_ACCESS`), into a kernel handle of the driver's,
//!   which is the object's key while it is in flight. Only file objects travel (files,
//!   pipes, devices, sockets of this driver and of others); any other handle, or a value the
//!   sender does not hold, is EBADF. Under Wine the copy lives in winedevice's own table.
//! - Receiving ([`give`], after the receive, at PASSIVE_LEVEL): the kernel handle is
//!   duplicated into the receiving process, referenced when its RECVMSG was resolved
//!   ([`Receiver`]), with the same access; then closed (a peek leaves it to the message). A
//!   handle that cannot be made is released and the receive reports MSG_CTRUNC
//!   (`afunix_device::deliver_objects`). The keys a peek reports are pinned by the device
//!   until their copies are made, so that another processor's receive or drop of the same
//!   message cannot close one (and the value name another sender's object) meanwhile.
//! - Releasing ([`release`]): the kernel handle is closed.
//!
//! Every call here needs PASSIVE_LEVEL ([`at_passive_level`]).

use core::ffi::c_void;
use core::ptr;

use afunix_core::Errno;
use afunix_device::{FileId, Object};
use afunix_ntos::{
    CURRENT_PROCESS, DUPLICATE_SAME_ACCESS, IoFileObjectType, IoGetCurrentProcess, KERNEL_MODE,
    OBJ_KERNEL_HANDLE, ObOpenObjectByPointer, ObReferenceObjectByHandle, ObfDereferenceObject,
    ObfReferenceObject, PROCESS_DUP_HANDLE, ZwClose, ZwDuplicateObject,
};
use windows_sys::Win32::Foundation::HANDLE;

use crate::handles::{self, KernelHandle};

/// Whether the processor runs at PASSIVE_LEVEL, where handles may be made and closed.
pub fn at_passive_level() -> bool {
    let irql: u64;
    // SAFETY:
    // 1. Reading CR8 (the task priority register, which holds the IRQL on x64) has no side
    //    effects and is allowed in kernel mode.
    unsafe { core::arch::asm!("mov {}, cr8", out(reg) irql, options(nomem, nostack, preserves_flags)) };
    irql == 0
}

/// Takes the object behind the caller's `handle` (a value the shared path accepted as a user
/// handle) for a SENDMSG: its key and, if it is one of our files, which. In the caller's
/// context, at PASSIVE_LEVEL.
pub fn pass(handle: u64) -> Result<Object, Errno> {
    let process = handles::open_calling_process()?;
    let mut copy: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. `process` is open with PROCESS_DUP_HANDLE; the source is only a value (one the
    //    caller does not hold fails cleanly); the copy goes to the system handle table with
    //    the access the caller's handle was granted.
    let status = unsafe {
        ZwDuplicateObject(
            process.0,
            handle as HANDLE,
            CURRENT_PROCESS,
            &mut copy,
            0,
            OBJ_KERNEL_HANDLE,
            DUPLICATE_SAME_ACCESS,
        )
    };
    drop(process);
    if status < 0 {
        return Err(Errno::EBADF);
    }
    let copy = KernelHandle(copy);
    let mut object: *mut c_void = ptr::null_mut();
    // SAFETY:
    // 1. Reads the kernel's IoFileObjectType variable (a data import).
    let file_type = unsafe { IoFileObjectType };
    // SAFETY:
    // 1. `copy` is our kernel handle; asking for a file object in kernel mode, no access
    //    check; `object` is a valid out pointer.
    let status = unsafe {
        ObReferenceObjectByHandle(
            copy.0,
            0,
            file_type,
            KERNEL_MODE,
            &mut object,
            ptr::null_mut(),
        )
    };
    if status < 0 || object.is_null() {
        // Not a file object (a process, an event, a section ...): refused.
        return Err(Errno::EBADF);
    }
    let ours = handles::is_ours(object);
    let file = ours.then_some(FileId(object as u64));
    // SAFETY:
    // 1. `object` was referenced just above and is dereferenced once; the kernel handle
    //    keeps the object alive from here on.
    unsafe { ObfDereferenceObject(object) };
    let key = copy.0 as u64;
    core::mem::forget(copy);
    Ok(Object { key, file })
}

/// Releases an object in flight: closes its kernel handle. At PASSIVE_LEVEL.
pub fn release(key: u64) {
    // SAFETY:
    // 1. `key` is a kernel handle `pass` made and nothing else closes: each key comes back
    //    from the device exactly once.
    unsafe { ZwClose(key as HANDLE) };
}

/// The process a RECVMSG receives objects into: referenced in its context when the request
/// is resolved, kept while it pends, let go when it is finished. A reference (not a handle)
/// so that letting it go is allowed at any IRQL up to DISPATCH_LEVEL (a cancel routine's).
#[derive(Debug)]
pub struct Receiver(*mut c_void);

impl Receiver {
    /// The calling process. In the caller's context.
    pub fn of_caller() -> Receiver {
        // SAFETY:
        // 1. IoGetCurrentProcess has no preconditions in a dispatch routine.
        let process = unsafe { IoGetCurrentProcess() };
        // SAFETY:
        // 1. `process` is the live calling process; the reference is dropped once, in
        //    `Drop`.
        unsafe { ObfReferenceObject(process) };
        Receiver(process)
    }

    /// A kernel handle to the process, to make handles in it. At PASSIVE_LEVEL.
    pub fn open(&self) -> Result<KernelHandle, Errno> {
        let mut handle: HANDLE = ptr::null_mut();
        // SAFETY:
        // 1. `self.0` is a referenced process object; a kernel handle with
        //    PROCESS_DUP_HANDLE, in kernel mode; `handle` is a valid out pointer.
        let status = unsafe {
            ObOpenObjectByPointer(
                self.0,
                OBJ_KERNEL_HANDLE,
                ptr::null_mut(),
                PROCESS_DUP_HANDLE,
                ptr::null_mut(),
                KERNEL_MODE,
                &mut handle,
            )
        };
        if status < 0 {
            return Err(Errno::ENOMEM);
        }
        Ok(KernelHandle(handle))
    }

    /// The raw reference, to keep with a pending request.
    pub fn into_raw(self) -> u64 {
        let raw = self.0 as u64;
        core::mem::forget(self);
        raw
    }

    /// A receiver kept with [`Receiver::into_raw`].
    ///
    /// # Safety
    /// `raw` came from `into_raw` and is taken back once.
    pub unsafe fn from_raw(raw: u64) -> Receiver {
        Receiver(raw as *mut c_void)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // SAFETY:
        // 1. Referenced in `of_caller`, dereferenced once; allowed up to DISPATCH_LEVEL.
        unsafe { ObfDereferenceObject(self.0) };
    }
}

/// Makes a handle, in the process `process` (a handle from [`Receiver::open`]), to the object
/// `key`, with the access the sender's had. The key stays open (its release is the caller's:
/// a peek's copy may be pinned). At PASSIVE_LEVEL.
pub fn give(process: &KernelHandle, key: u64) -> Result<u64, Errno> {
    let mut handle: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. `key` is a live kernel handle of ours (see `release`; a peek's is pinned); `process`
    //    is open with PROCESS_DUP_HANDLE; `handle` is a valid out pointer. The new handle is
    //    not inheritable.
    let status = unsafe {
        ZwDuplicateObject(
            CURRENT_PROCESS,
            key as HANDLE,
            process.0,
            &mut handle,
            0,
            0,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if status < 0 {
        return Err(Errno::EMFILE);
    }
    Ok(handle as u64)
}
