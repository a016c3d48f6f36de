//! The device's security descriptor: a protected DACL and a mandatory label, set on the device
//! object and read back before the driver accepts any request. Both front ends call
//! [`secure`] on their device object (KMDF's through `WdfDeviceWdmGetDeviceObject`).
//!
//! `IoCreateDeviceSecure` would do the DACL part, but it lives in a WDK static library
//! (wdmsec.lib), which we neither have nor want; the Rtl functions and `ZwSetSecurityObject`
//! are plain ntoskrnl exports.

use core::ffi::c_void;
use core::ptr;

use afunix_proto::security::{
    DEVICE_DACL, DEVICE_DACL_SDDL, DEVICE_LABEL_SDDL, SE_DACL_PROTECTED, encode_device_label_ace,
    is_device_dacl, is_device_label,
};
use windows_sys::Wdk::Foundation::DEVICE_OBJECT;
use windows_sys::Win32::Foundation::{HANDLE, NTSTATUS, STATUS_SUCCESS, STATUS_UNSUCCESSFUL};

use crate::debug::kprint;
use crate::handles::KernelHandle;
use afunix_ntos::{
    ACL_REVISION, DACL_SECURITY_INFORMATION, KERNEL_MODE, LABEL_SECURITY_INFORMATION,
    OBJ_KERNEL_HANDLE, ObOpenObjectByPointer, PROTECTED_DACL_SECURITY_INFORMATION, READ_CONTROL,
    RtlAddAccessAllowedAce, RtlAddAce, RtlCreateAcl, RtlCreateSecurityDescriptor, RtlInitializeSid,
    RtlSetControlSecurityDescriptor, RtlSetDaclSecurityDescriptor, RtlSetSaclSecurityDescriptor,
    RtlSubAuthoritySid, SECURITY_DESCRIPTOR_REVISION, WRITE_DAC, WRITE_OWNER,
    ZwQuerySecurityObject, ZwSetSecurityObject,
};

fn nt_success(status: NTSTATUS) -> bool {
    status >= 0
}

/// A SID with room for the two sub-authorities our well-known SIDs need.
#[repr(C, align(4))]
struct SidBuffer([u8; 8 + 4 * 2]);

/// Room for an ACL header and three access-allowed ACEs of those SIDs.
#[repr(C, align(4))]
struct AclBuffer([u8; 8 + 3 * (8 + 16)]);

/// Room for an absolute SECURITY_DESCRIPTOR (40 bytes on x64).
#[repr(C, align(8))]
struct DescriptorBuffer([u8; 40]);

/// Room for an ACL header and the one mandatory-label ACE (S-1-16-8192: 20 bytes).
#[repr(C, align(4))]
struct SaclBuffer([u8; 8 + 20]);

/// The label ACE's bytes, from the portable encoder, 4-aligned as an ACE must be.
#[repr(C, align(4))]
struct AceBuffer([u8; 20]);

/// Replaces the device's default DACL with [`DEVICE_DACL`], protected from inheritance, and
/// gives it the mandatory label of [`afunix_proto::security::DEVICE_LABEL`] (no access below
/// Medium integrity; the argument is in `afunix_proto::security`'s module comment).
pub fn secure(device: *mut DEVICE_OBJECT) -> NTSTATUS {
    let mut sids = [SidBuffer([0; 16]), SidBuffer([0; 16]), SidBuffer([0; 16])];
    let mut acl = AclBuffer([0; 80]);
    let mut sacl = SaclBuffer([0; 28]);
    let mut descriptor = DescriptorBuffer([0; 40]);

    let acl_ptr = acl.0.as_mut_ptr().cast::<c_void>();
    // SAFETY:
    // 1. `acl_ptr` points at size_of::<AclBuffer>() writable, 4-aligned bytes.
    let status = unsafe {
        RtlCreateAcl(
            acl_ptr,
            core::mem::size_of::<AclBuffer>() as u32,
            ACL_REVISION,
        )
    };
    if !nt_success(status) {
        return status;
    }
    for (entry, sid) in DEVICE_DACL.iter().zip(sids.iter_mut()) {
        let sid_ptr = sid.0.as_mut_ptr().cast::<c_void>();
        let subs = entry.sid.sub_authorities();
        let authority = entry.sid.authority();
        // SAFETY:
        // 1. `sid_ptr` has room for a SID with up to two sub-authorities; every well-known
        //    SID we name has one or two (`sub_authorities`), so `count` fits.
        let status = unsafe { RtlInitializeSid(sid_ptr, &authority, subs.len() as u8) };
        if !nt_success(status) {
            return status;
        }
        for (index, value) in (0u32..).zip(subs.iter()) {
            // SAFETY:
            // 1. `index` is below the count the SID was initialised with, so the returned
            //    pointer is inside `sid`.
            let slot = unsafe { RtlSubAuthoritySid(sid_ptr, index) };
            // SAFETY:
            // 1. `slot` points at a 4-aligned u32 inside `sid` (see above).
            unsafe { slot.write(*value) };
        }
        // SAFETY:
        // 1. `acl_ptr` is the ACL initialised above, sized for three such ACEs; `sid_ptr` is a
        //    valid SID.
        let status =
            unsafe { RtlAddAccessAllowedAce(acl_ptr, ACL_REVISION, entry.access_mask, sid_ptr) };
        if !nt_success(status) {
            return status;
        }
    }

    let descriptor_ptr = descriptor.0.as_mut_ptr().cast::<c_void>();
    // SAFETY:
    // 1. `descriptor_ptr` points at 40 writable, 8-aligned bytes: an absolute descriptor.
    let status =
        unsafe { RtlCreateSecurityDescriptor(descriptor_ptr, SECURITY_DESCRIPTOR_REVISION) };
    if !nt_success(status) {
        return status;
    }
    // SAFETY:
    // 1. Both pointers are initialised above and outlive the descriptor's use in this call.
    let status = unsafe { RtlSetDaclSecurityDescriptor(descriptor_ptr, 1, acl_ptr, 0) };
    if !nt_success(status) {
        return status;
    }

    // Protected: no ACE may be inherited into it. PROTECTED_DACL_SECURITY_INFORMATION below says
    // the same to Windows; Wine 8 ignores that flag but keeps the descriptor's own control bit.
    // SAFETY:
    // 1. `descriptor_ptr` is the valid absolute descriptor initialised above.
    let status = unsafe {
        RtlSetControlSecurityDescriptor(descriptor_ptr, SE_DACL_PROTECTED, SE_DACL_PROTECTED)
    };
    if !nt_success(status) {
        return status;
    }
    let status = label(&mut sacl, descriptor_ptr);
    if !nt_success(status) {
        kprint!(
            "building the device's mandatory label failed: {:#010x}",
            status
        );
        return status;
    }

    let mut handle: HANDLE = ptr::null_mut();
    // SAFETY:
    // 1. `device` is a live device object; a kernel handle with WRITE_DAC (the DACL),
    //    WRITE_OWNER (the label) and READ_CONTROL is all we ask for, in kernel mode, so no
    //    type or access check against a caller applies.
    let status = unsafe {
        ObOpenObjectByPointer(
            device.cast(),
            OBJ_KERNEL_HANDLE,
            ptr::null_mut(),
            WRITE_DAC | WRITE_OWNER | READ_CONTROL,
            ptr::null_mut(),
            KERNEL_MODE,
            &mut handle,
        )
    };
    if !nt_success(status) {
        return status;
    }
    let handle = KernelHandle(handle);
    // DACL and label in one call: under Wine 8, a second call setting only the label rebuilt
    // the descriptor's control word without SE_DACL_PROTECTED (measured).
    // SAFETY:
    // 1. `handle` is the kernel handle just opened with WRITE_DAC and WRITE_OWNER;
    //    `descriptor_ptr` is a valid absolute descriptor whose ACLs and SIDs live until this
    //    call returns.
    let status = unsafe {
        ZwSetSecurityObject(
            handle.0,
            DACL_SECURITY_INFORMATION
                | PROTECTED_DACL_SECURITY_INFORMATION
                | LABEL_SECURITY_INFORMATION,
            descriptor_ptr,
        )
    };
    if nt_success(status) {
        verify(handle.0)
    } else {
        status
    }
}

/// Puts the device's mandatory label into the absolute descriptor at `descriptor`: a SACL,
/// built in `sacl`, holding the one ACE that [`encode_device_label_ace`] writes. Set with
/// LABEL_SECURITY_INFORMATION, which replaces only the label ACEs of the SACL and needs
/// WRITE_OWNER, not ACCESS_SYSTEM_SECURITY.
fn label(sacl: &mut SaclBuffer, descriptor: *mut c_void) -> NTSTATUS {
    let mut ace = AceBuffer([0; 20]);
    let Some(ace_len) = encode_device_label_ace(&mut ace.0) else {
        return STATUS_UNSUCCESSFUL;
    };
    let sacl_ptr = sacl.0.as_mut_ptr().cast::<c_void>();
    // SAFETY:
    // 1. `sacl_ptr` points at size_of::<SaclBuffer>() writable, 4-aligned bytes.
    let status = unsafe {
        RtlCreateAcl(
            sacl_ptr,
            core::mem::size_of::<SaclBuffer>() as u32,
            ACL_REVISION,
        )
    };
    if !nt_success(status) {
        return status;
    }
    // SAFETY:
    // 1. `sacl_ptr` is the ACL initialised above, with room for exactly this ACE; `ace` holds
    //    `ace_len` (20) bytes of one well-formed ACE, 4-aligned; u32::MAX appends. The ACE is
    //    copied into the ACL, so `ace` may go when this function returns.
    let status = unsafe {
        RtlAddAce(
            sacl_ptr,
            ACL_REVISION,
            u32::MAX,
            ace.0.as_ptr().cast(),
            ace_len as u32,
        )
    };
    if !nt_success(status) {
        return status;
    }
    // SAFETY:
    // 1. `descriptor` is the caller's valid absolute descriptor; `sacl` is the caller's and
    //    outlives every use of the descriptor.
    unsafe { RtlSetSaclSecurityDescriptor(descriptor, 1, sacl_ptr, 0) }
}

/// Reads the device's DACL and label back and checks them against encodings made without the
/// kernel's help ([`is_device_dacl`], [`is_device_label`]): the descriptor the device really
/// carries is the one we meant, or the driver does not load.
fn verify(handle: HANDLE) -> NTSTATUS {
    let mut buffer = DescriptorReadBack([0; 256]);
    let mut needed = 0u32;
    // SAFETY:
    // 1. `handle` is open with READ_CONTROL (all that reading a label needs, too); the
    //    buffer is writable for the length passed.
    let status = unsafe {
        ZwQuerySecurityObject(
            handle,
            DACL_SECURITY_INFORMATION | LABEL_SECURITY_INFORMATION,
            buffer.0.as_mut_ptr().cast(),
            buffer.0.len() as u32,
            &mut needed,
        )
    };
    if !nt_success(status) {
        kprint!(
            "reading the device's security back failed: {:#010x}",
            status
        );
        return status;
    }
    let descriptor = buffer.0.get(..needed as usize).unwrap_or(&buffer.0);
    let dacl = is_device_dacl(descriptor);
    let label = is_device_label(descriptor);
    if dacl {
        kprint!("device DACL set and read back: {}", DEVICE_DACL_SDDL);
    } else {
        kprint!("the device's DACL read back is not {}", DEVICE_DACL_SDDL);
    }
    if label {
        kprint!("device label set and read back: {}", DEVICE_LABEL_SDDL);
    } else {
        kprint!("the device's label read back is not {}", DEVICE_LABEL_SDDL);
    }
    if dacl && label {
        return STATUS_SUCCESS;
    }
    for chunk in descriptor.chunks(32) {
        kprint!("  {:02x?}", chunk);
    }
    STATUS_UNSUCCESSFUL
}

/// Room for the self-relative descriptor ZwQuerySecurityObject returns.
#[repr(C, align(8))]
struct DescriptorReadBack([u8; 256]);
