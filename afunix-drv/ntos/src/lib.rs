//! The kernel functions `afunixrs.sys` calls: ntoskrnl.exe's, and kernel CNG's random source.
//!
//! Declared here rather than taken from windows-sys because windows-sys binds several of
//! them (the `Rtl*` and `Zw*` security functions, `DbgPrint`) to ntdll.dll, which a driver
//! cannot import; see this crate's Cargo.toml for why that takes a crate of its own. Every
//! import is checked against the installed Wine's ntoskrnl by
//! `scripts/check-driver-imports.sh`: calling one of Wine's stubs aborts its driver host.
//!
//! Only the Windows kernel build uses this crate; elsewhere it is empty.

#![no_std]
#![allow(non_snake_case)]
#![cfg(all(target_os = "windows", target_env = "msvc"))]

use core::ffi::c_void;

use windows_sys::Wdk::Foundation::{DEVICE_OBJECT, DRIVER_OBJECT, IRP, MDL, OBJECT_ATTRIBUTES};
use windows_sys::Win32::Foundation::{HANDLE, NTSTATUS, UNICODE_STRING};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

/// `KPROCESSOR_MODE::KernelMode`.
pub const KERNEL_MODE: i8 = 0;
/// `KPROCESSOR_MODE::UserMode`.
pub const USER_MODE: i8 = 1;
/// `OBJ_KERNEL_HANDLE`: the handle lives in the system handle table.
pub const OBJ_KERNEL_HANDLE: u32 = 0x200;
/// `READ_CONTROL`.
pub const READ_CONTROL: u32 = 0x0002_0000;
/// `WRITE_DAC`.
pub const WRITE_DAC: u32 = 0x0004_0000;
/// `WRITE_OWNER`: also what setting a mandatory label needs.
pub const WRITE_OWNER: u32 = 0x0008_0000;
/// `DACL_SECURITY_INFORMATION`.
pub const DACL_SECURITY_INFORMATION: u32 = 0x4;
/// `LABEL_SECURITY_INFORMATION`: the mandatory label ACEs of the SACL.
pub const LABEL_SECURITY_INFORMATION: u32 = 0x10;
/// `PROTECTED_DACL_SECURITY_INFORMATION`: sets `SE_DACL_PROTECTED` (no inherited ACEs).
pub const PROTECTED_DACL_SECURITY_INFORMATION: u32 = 0x8000_0000;
/// `SECURITY_DESCRIPTOR_REVISION`.
pub const SECURITY_DESCRIPTOR_REVISION: u32 = 1;
/// `ACL_REVISION`.
pub const ACL_REVISION: u32 = 2;
/// `NonPagedPoolNx`.
pub const NON_PAGED_POOL_NX: i32 = 512;
/// `POOL_FLAG_NON_PAGED` for `ExAllocatePool2`.
pub const POOL_FLAG_NON_PAGED: u64 = 0x40;
/// `IO_NO_INCREMENT`.
pub const IO_NO_INCREMENT: i8 = 0;

/// `ExAllocatePool2`, present from Windows 10 2004 on and absent from Wine 8: looked up at
/// run time with `MmGetSystemRoutineAddress`.
pub type ExAllocatePool2Fn =
    unsafe extern "system" fn(flags: u64, size: usize, tag: u32) -> *mut c_void;

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn IoCreateDevice(
        driver: *mut DRIVER_OBJECT,
        extension_size: u32,
        name: *const UNICODE_STRING,
        device_type: u32,
        characteristics: u32,
        exclusive: u8,
        device: *mut *mut DEVICE_OBJECT,
    ) -> NTSTATUS;
    pub fn IoDeleteDevice(device: *mut DEVICE_OBJECT);
    pub fn IoCreateSymbolicLink(
        link: *const UNICODE_STRING,
        target: *const UNICODE_STRING,
    ) -> NTSTATUS;
    pub fn IoDeleteSymbolicLink(link: *const UNICODE_STRING) -> NTSTATUS;
    pub fn IofCompleteRequest(irp: *mut IRP, priority_boost: i8);

    pub fn ExAllocatePoolWithTag(pool_type: i32, size: usize, tag: u32) -> *mut c_void;
    pub fn ExFreePoolWithTag(pointer: *mut c_void, tag: u32);
    pub fn MmGetSystemRoutineAddress(name: *const UNICODE_STRING) -> *mut c_void;
    pub fn KeBugCheckEx(code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> !;

    pub fn RtlCreateSecurityDescriptor(descriptor: *mut c_void, revision: u32) -> NTSTATUS;
    pub fn RtlCreateAcl(acl: *mut c_void, length: u32, revision: u32) -> NTSTATUS;
    pub fn RtlAddAccessAllowedAce(
        acl: *mut c_void,
        revision: u32,
        mask: u32,
        sid: *mut c_void,
    ) -> NTSTATUS;
    pub fn RtlSetDaclSecurityDescriptor(
        descriptor: *mut c_void,
        present: u8,
        acl: *mut c_void,
        defaulted: u8,
    ) -> NTSTATUS;
    pub fn RtlSetControlSecurityDescriptor(
        descriptor: *mut c_void,
        mask: u16,
        bits: u16,
    ) -> NTSTATUS;
    pub fn RtlSetSaclSecurityDescriptor(
        descriptor: *mut c_void,
        present: u8,
        acl: *mut c_void,
        defaulted: u8,
    ) -> NTSTATUS;
    pub fn RtlAddAce(
        acl: *mut c_void,
        revision: u32,
        starting_index: u32,
        ace_list: *const c_void,
        ace_list_length: u32,
    ) -> NTSTATUS;
    pub fn RtlInitializeSid(sid: *mut c_void, authority: *const [u8; 6], count: u8) -> NTSTATUS;
    pub fn RtlSubAuthoritySid(sid: *mut c_void, index: u32) -> *mut u32;
    pub fn ObOpenObjectByPointer(
        object: *mut c_void,
        attributes: u32,
        access_state: *mut c_void,
        desired_access: u32,
        object_type: *mut c_void,
        access_mode: i8,
        handle: *mut HANDLE,
    ) -> NTSTATUS;
    pub fn ZwSetSecurityObject(
        handle: HANDLE,
        information: u32,
        descriptor: *mut c_void,
    ) -> NTSTATUS;
    pub fn ZwQuerySecurityObject(
        handle: HANDLE,
        information: u32,
        descriptor: *mut c_void,
        length: u32,
        needed: *mut u32,
    ) -> NTSTATUS;
    pub fn ZwClose(handle: HANDLE) -> NTSTATUS;
    pub fn ZwOpenKey(
        key: *mut HANDLE,
        access: u32,
        attributes: *const OBJECT_ATTRIBUTES,
    ) -> NTSTATUS;
    pub fn ZwQueryValueKey(
        key: HANDLE,
        name: *const UNICODE_STRING,
        class: i32,
        information: *mut c_void,
        length: u32,
        needed: *mut u32,
    ) -> NTSTATUS;

    pub fn KeAcquireSpinLockRaiseToDpc(lock: *mut usize) -> u8;
    pub fn KeReleaseSpinLock(lock: *mut usize, new_irql: u8);
    pub fn IoAcquireCancelSpinLock(irql: *mut u8);
    pub fn IoReleaseCancelSpinLock(irql: u8);
    pub fn MmMapLockedPagesSpecifyCache(
        mdl: *mut MDL,
        access_mode: i8,
        cache_type: i32,
        requested_address: *mut c_void,
        bug_check_on_failure: u32,
        priority: u32,
    ) -> *mut c_void;

    pub fn ZwCreateFile(
        handle: *mut HANDLE,
        desired_access: u32,
        attributes: *const OBJECT_ATTRIBUTES,
        io_status: *mut IO_STATUS_BLOCK,
        allocation_size: *const i64,
        file_attributes: u32,
        share_access: u32,
        disposition: u32,
        options: u32,
        ea_buffer: *const c_void,
        ea_length: u32,
    ) -> NTSTATUS;
    pub fn ZwQueryInformationFile(
        handle: HANDLE,
        io_status: *mut IO_STATUS_BLOCK,
        information: *mut c_void,
        length: u32,
        class: i32,
    ) -> NTSTATUS;
    pub fn ZwSetInformationFile(
        handle: HANDLE,
        io_status: *mut IO_STATUS_BLOCK,
        information: *const c_void,
        length: u32,
        class: i32,
    ) -> NTSTATUS;
    pub fn ZwQueryVolumeInformationFile(
        handle: HANDLE,
        io_status: *mut IO_STATUS_BLOCK,
        information: *mut c_void,
        length: u32,
        class: i32,
    ) -> NTSTATUS;
    pub fn ZwFsControlFile(
        handle: HANDLE,
        event: HANDLE,
        apc_routine: *const c_void,
        apc_context: *const c_void,
        io_status: *mut IO_STATUS_BLOCK,
        code: u32,
        input: *const c_void,
        input_length: u32,
        output: *mut c_void,
        output_length: u32,
    ) -> NTSTATUS;

    pub fn ZwReadFile(
        handle: HANDLE,
        event: HANDLE,
        apc_routine: *const c_void,
        apc_context: *const c_void,
        io_status: *mut IO_STATUS_BLOCK,
        buffer: *mut c_void,
        length: u32,
        offset: *const i64,
        key: *const u32,
    ) -> NTSTATUS;
    pub fn ZwWriteFile(
        handle: HANDLE,
        event: HANDLE,
        apc_routine: *const c_void,
        apc_context: *const c_void,
        io_status: *mut IO_STATUS_BLOCK,
        buffer: *const c_void,
        length: u32,
        offset: *const i64,
        key: *const u32,
    ) -> NTSTATUS;

    pub fn ZwDuplicateObject(
        source_process: HANDLE,
        source_handle: HANDLE,
        target_process: HANDLE,
        target_handle: *mut HANDLE,
        desired_access: u32,
        attributes: u32,
        options: u32,
    ) -> NTSTATUS;
    pub fn ZwQueryObject(
        handle: HANDLE,
        class: i32,
        information: *mut c_void,
        length: u32,
        returned: *mut u32,
    ) -> NTSTATUS;
    pub fn ObReferenceObjectByHandle(
        handle: HANDLE,
        desired_access: u32,
        object_type: *mut c_void,
        access_mode: i8,
        object: *mut *mut c_void,
        handle_information: *mut c_void,
    ) -> NTSTATUS;
    pub fn ObfDereferenceObject(object: *mut c_void) -> isize;
    pub fn ObfReferenceObject(object: *mut c_void) -> isize;
    pub fn KeQuerySystemTime(time: *mut i64);
    pub fn IoGetCurrentProcess() -> *mut c_void;
    pub fn PsGetCurrentProcessId() -> HANDLE;
    pub fn PsGetCurrentThreadId() -> HANDLE;
    pub fn ZwOpenProcess(
        process: *mut HANDLE,
        desired_access: u32,
        attributes: *const OBJECT_ATTRIBUTES,
        client_id: *const ClientId,
    ) -> NTSTATUS;
    pub fn ZwOpenThread(
        thread: *mut HANDLE,
        desired_access: u32,
        attributes: *const OBJECT_ATTRIBUTES,
        client_id: *const ClientId,
    ) -> NTSTATUS;
    pub fn ZwOpenThreadTokenEx(
        thread: HANDLE,
        desired_access: u32,
        open_as_self: u8,
        attributes: u32,
        token: *mut HANDLE,
    ) -> NTSTATUS;
    pub fn ZwOpenProcessTokenEx(
        process: HANDLE,
        access: u32,
        attributes: u32,
        token: *mut HANDLE,
    ) -> NTSTATUS;
    pub fn ZwQueryInformationToken(
        token: HANDLE,
        class: i32,
        information: *mut c_void,
        length: u32,
        returned: *mut u32,
    ) -> NTSTATUS;
}

/// `BCRYPT_USE_SYSTEM_PREFERRED_RNG`: the system's RNG, no algorithm handle.
pub const BCRYPT_USE_SYSTEM_PREFERRED_RNG: u32 = 0x2;

// Kernel CNG, the one import from outside ntoskrnl.exe. Windows documents BCryptGenRandom
// for kernel mode (callable at IRQL <= DISPATCH_LEVEL with the system-preferred RNG).
// cng.sys rather than ksecdd.sys: Wine 8's ksecdd.sys has it only as a stub (calling it would
// abort winedevice), while its cng.sys forwards it to bcrypt.dll's real one, which draws
// from the host's random source. `scripts/check-driver-imports.sh` checks both modules.
#[link(name = "cng.sys", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn BCryptGenRandom(
        algorithm: *mut c_void,
        buffer: *mut u8,
        length: u32,
        flags: u32,
    ) -> NTSTATUS;
}

// Data exports: each static *is* the kernel's variable, whose value is the object type.
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub static IoFileObjectType: *mut c_void;
}

/// `NtCurrentProcess()`: the pseudo-handle of the current process.
pub const CURRENT_PROCESS: HANDLE = -1isize as HANDLE;
/// `PROCESS_DUP_HANDLE`.
pub const PROCESS_DUP_HANDLE: u32 = 0x40;
/// `DUPLICATE_SAME_ACCESS`.
pub const DUPLICATE_SAME_ACCESS: u32 = 0x2;
/// `TOKEN_QUERY`.
pub const TOKEN_QUERY: u32 = 0x8;
/// `TOKEN_INFORMATION_CLASS::TokenUser`.
pub const TOKEN_USER_CLASS: i32 = 1;
/// `TOKEN_INFORMATION_CLASS::TokenGroups`.
pub const TOKEN_GROUPS_CLASS: i32 = 2;
/// `TOKEN_INFORMATION_CLASS::TokenImpersonationLevel`.
pub const TOKEN_IMPERSONATION_LEVEL_CLASS: i32 = 9;
/// `TOKEN_INFORMATION_CLASS::TokenRestrictedSids`.
pub const TOKEN_RESTRICTED_SIDS_CLASS: i32 = 11;
/// `TOKEN_INFORMATION_CLASS::TokenIntegrityLevel`.
pub const TOKEN_INTEGRITY_LEVEL_CLASS: i32 = 25;
/// `TOKEN_INFORMATION_CLASS::TokenIsAppContainer`.
pub const TOKEN_IS_APP_CONTAINER_CLASS: i32 = 29;
/// `SECURITY_IMPERSONATION_LEVEL::SecurityImpersonation`.
pub const SECURITY_IMPERSONATION: u32 = 2;
/// `THREAD_QUERY_LIMITED_INFORMATION`.
pub const THREAD_QUERY_LIMITED_INFORMATION: u32 = 0x800;
/// `PROCESS_QUERY_LIMITED_INFORMATION`.
pub const PROCESS_QUERY_LIMITED_INFORMATION: u32 = 0x1000;
/// `STATUS_NO_TOKEN`: the thread is not impersonating.
pub const STATUS_NO_TOKEN: NTSTATUS = 0xC000_007C_u32 as i32;

/// `CLIENT_ID`: a process id and a thread id.
#[repr(C)]
#[derive(Debug)]
pub struct ClientId {
    pub process: HANDLE,
    pub thread: HANDLE,
}
/// `OBJ_CASE_INSENSITIVE`.
pub const OBJ_CASE_INSENSITIVE: u32 = 0x40;
/// `OBJ_FORCE_ACCESS_CHECK`: check access against the caller, even from kernel mode.
pub const OBJ_FORCE_ACCESS_CHECK: u32 = 0x400;
/// `KEY_READ`.
pub const KEY_READ: u32 = 0x0002_0019;
/// `KEY_VALUE_INFORMATION_CLASS::KeyValuePartialInformation`.
pub const KEY_VALUE_PARTIAL_INFORMATION_CLASS: i32 = 2;
/// `REG_DWORD`.
pub const REG_DWORD: u32 = 4;
/// `MEMORY_CACHING_TYPE::MmCached`.
pub const MM_CACHED: i32 = 1;
/// `NormalPagePriority | MdlMappingNoExecute`.
pub const NORMAL_PAGE_PRIORITY_NX: u32 = 16 | 0x4000_0000;
/// `MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL`.
pub const MDL_SYSTEM_MAPPED: i16 = 0x0001 | 0x0004;

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    pub fn DbgPrint(format: *const u8, ...) -> NTSTATUS;
}

// The code generator and the prebuilt `core`/`alloc` call these; a driver has no C runtime,
// and ntoskrnl.exe exports them. Declaring them is what makes the linker find them.
#[allow(dead_code)]
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    pub fn strlen(s: *const u8) -> usize;
    pub fn memcpy(dest: *mut c_void, src: *const c_void, count: usize) -> *mut c_void;
    pub fn memmove(dest: *mut c_void, src: *const c_void, count: usize) -> *mut c_void;
    pub fn memset(dest: *mut c_void, value: i32, count: usize) -> *mut c_void;
    pub fn memcmp(a: *const c_void, b: *const c_void, count: usize) -> i32;
}

/// A counted UTF-16 string over a `'static` array, for names known at compile time.
///
/// Used only to initialise `const`s, so a name too long for a `UNICODE_STRING` fails the
/// build rather than the driver.
#[allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::panic
)]
pub const fn static_unicode_string(units: &'static [u16]) -> UNICODE_STRING {
    if units.len() > (u16::MAX / 2) as usize {
        panic!("name too long for a UNICODE_STRING");
    }
    let bytes = (units.len() * 2) as u16;
    UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: units.as_ptr().cast_mut(),
    }
}
