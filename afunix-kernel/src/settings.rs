//! The administrator's settings, read once at load from the service key's `Parameters`
//! subkey (`HKLM\System\CurrentControlSet\Services\afunixrs\Parameters`), all REG_DWORD and
//! all optional:
//!
//! - `UserShareDivisor`: each user (SID) may hold `1 / divisor` of each of the driver's caps;
//!   default 4, 1 = no split (0 is taken as 1).
//! - `FailAllocations`: the low-resources test mode: refuse one pool allocation in N
//!   (every N-th); 0 or absent = off.
//! - `FailSeed`: with `FailAllocations`, refuse a pseudo-random one in N chosen from this
//!   seed instead of exactly every N-th; 0 or absent = every N-th.
//!
//! Reading needs no allocation: the key is opened relative to the service key the I/O
//! manager names, and each value is read into a buffer on the stack.

use core::mem::size_of;
use core::ptr;

use windows_sys::Wdk::Foundation::OBJECT_ATTRIBUTES;
use windows_sys::Win32::Foundation::{HANDLE, UNICODE_STRING};

use crate::handles::KernelHandle;
use afunix_ntos::{
    KEY_READ, KEY_VALUE_PARTIAL_INFORMATION_CLASS, OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE,
    REG_DWORD, ZwOpenKey, ZwQueryValueKey, static_unicode_string,
};

const PARAMETERS: [u16; 10] = afunix_proto::names::ascii_to_utf16("Parameters");
const USER_SHARE_DIVISOR: [u16; 16] = afunix_proto::names::ascii_to_utf16("UserShareDivisor");
const FAIL_ALLOCATIONS: [u16; 15] = afunix_proto::names::ascii_to_utf16("FailAllocations");
const FAIL_SEED: [u16; 8] = afunix_proto::names::ascii_to_utf16("FailSeed");

/// What the registry says; absent values are `None`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Settings {
    pub user_share_divisor: Option<u32>,
    pub fail_allocations: Option<u32>,
    pub fail_seed: Option<u32>,
}

/// `KEY_VALUE_PARTIAL_INFORMATION` with room for a DWORD (and a little more, so a longer
/// value is reported as too long rather than overflowing).
#[repr(C, align(8))]
struct PartialInformation {
    title_index: u32,
    value_type: u32,
    data_length: u32,
    data: [u8; 20],
}

fn open(root: HANDLE, name: &UNICODE_STRING, attributes: u32) -> Result<KernelHandle, i32> {
    let object = OBJECT_ATTRIBUTES {
        Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: root,
        ObjectName: name,
        Attributes: attributes,
        SecurityDescriptor: ptr::null(),
        SecurityQualityOfService: ptr::null(),
    };
    let mut handle: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. `object` and the name it points at live for the call; `handle` is a valid out
    //    pointer. DriverEntry runs at PASSIVE_LEVEL, as ZwOpenKey requires.
    let status = unsafe { ZwOpenKey(&mut handle, KEY_READ, &object) };
    if status < 0 {
        Err(status)
    } else {
        Ok(KernelHandle(handle))
    }
}

/// The DWORD value `name` of `key`, if it exists and is a DWORD.
fn dword(key: &KernelHandle, name: &'static [u16]) -> Option<u32> {
    let name = static_unicode_string(name);
    let mut info = PartialInformation {
        title_index: 0,
        value_type: 0,
        data_length: 0,
        data: [0; 20],
    };
    let mut needed = 0u32;
    // SAFETY:
    // 1. `key` is an open key handle; `name` is a valid counted string; `info` is writable
    //    for the length passed; `needed` is a valid out pointer.
    let status = unsafe {
        ZwQueryValueKey(
            key.0,
            &name,
            KEY_VALUE_PARTIAL_INFORMATION_CLASS,
            ptr::from_mut(&mut info).cast(),
            size_of::<PartialInformation>() as u32,
            &mut needed,
        )
    };
    if status < 0 || info.value_type != REG_DWORD || info.data_length != 4 {
        return None;
    }
    let bytes = info.data.first_chunk::<4>()?;
    Some(u32::from_le_bytes(*bytes))
}

/// Reads the settings under `registry_path` (the service key DriverEntry was given) `\Parameters`.
/// A missing key or value leaves the default.
///
/// # Safety
/// `registry_path` is null or the valid counted string DriverEntry was given, used only
/// before DriverEntry returns.
pub unsafe fn read(registry_path: *const UNICODE_STRING) -> Settings {
    if registry_path.is_null() {
        return Settings::default();
    }
    // SAFETY:
    // 1. The caller's contract: the I/O manager passes DriverEntry a valid counted string
    //    naming the service key; it lives until DriverEntry returns, and we use it only here.
    let service_name = unsafe { &*registry_path };
    let Ok(service) = open(
        ptr::null_mut(),
        service_name,
        OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
    ) else {
        return Settings::default();
    };
    let parameters_name = static_unicode_string(&PARAMETERS);
    let Ok(parameters) = open(
        service.0,
        &parameters_name,
        OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
    ) else {
        return Settings::default();
    };
    Settings {
        user_share_divisor: dword(&parameters, &USER_SHARE_DIVISOR),
        fail_allocations: dword(&parameters, &FAIL_ALLOCATIONS),
        fail_seed: dword(&parameters, &FAIL_SEED),
    }
}
