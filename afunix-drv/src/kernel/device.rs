//! `DriverEntry` and `DriverUnload`: the device object, its security, and its link.

use core::ffi::c_void;
use core::ptr;

use afunix_proto::ioctl::FILE_DEVICE_AFUNIX;
use afunix_proto::names::{DEVICE_NAME_UTF16, DOS_DEVICE_NAME_UTF16};
use afunix_proto::security::{
    DEVICE_DACL, DEVICE_DACL_SDDL, DEVICE_LABEL_SDDL, SE_DACL_PROTECTED, encode_device_label_ace,
    is_device_dacl, is_device_label,
};
use windows_sys::Wdk::Foundation::{DEVICE_OBJECT, DRIVER_OBJECT};
use windows_sys::Wdk::System::SystemServices::{
    FILE_DEVICE_SECURE_OPEN, IRP_MJ_CLEANUP, IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL,
    IRP_MJ_READ, IRP_MJ_WRITE,
};
use windows_sys::Win32::Foundation::{
    HANDLE, NTSTATUS, STATUS_SUCCESS, STATUS_UNSUCCESSFUL, UNICODE_STRING,
};

use super::debug::kprint;
use super::dispatch;
use super::handles::{self, KernelHandle};
use super::pool;
use super::settings;
use super::sockets;
use afunix_ntos::{
    ACL_REVISION, DACL_SECURITY_INFORMATION, IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice,
    IoDeleteSymbolicLink, KERNEL_MODE, LABEL_SECURITY_INFORMATION, OBJ_KERNEL_HANDLE,
    ObOpenObjectByPointer, PROTECTED_DACL_SECURITY_INFORMATION, READ_CONTROL,
    RtlAddAccessAllowedAce, RtlAddAce, RtlCreateAcl, RtlCreateSecurityDescriptor, RtlInitializeSid,
    RtlSetControlSecurityDescriptor, RtlSetDaclSecurityDescriptor, RtlSetSaclSecurityDescriptor,
    RtlSubAuthoritySid, SECURITY_DESCRIPTOR_REVISION, WRITE_DAC, WRITE_OWNER,
    ZwQuerySecurityObject, ZwSetSecurityObject, static_unicode_string,
};

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
    pool::init();
    kprint!(
        "loading {} (ExAllocatePool2: {})",
        dispatch::VERSION,
        if pool::has_allocate_pool2() {
            "yes"
        } else {
            "no, using ExAllocatePoolWithTag"
        }
    );

    let settings = settings::read(registry_path);
    if let Some(divisor) = settings.user_share_divisor {
        sockets::set_user_share_divisor(divisor as usize);
        kprint!(
            "settings: UserShareDivisor {}: each user may hold 1/{} of each cap",
            divisor,
            divisor.max(1)
        );
    }
    match (settings.fail_allocations, settings.fail_seed) {
        (Some(every), seed) if every > 0 => {
            let seed = seed.unwrap_or(0);
            pool::inject_failures(every, seed);
            if seed == 0 {
                kprint!(
                    "settings: low-resources mode: every {}th pool allocation fails",
                    every
                );
            } else {
                kprint!(
                    "settings: low-resources mode: one pool allocation in {} fails at random (seed {})",
                    every,
                    seed
                );
            }
        }
        _ => pool::inject_failures(0, 0),
    }

    sockets::init();

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
        sockets::shutdown();
        return status;
    }

    let status = secure(device);
    if !nt_success(status) {
        kprint!("setting the device's security failed: {:#010x}", status);
        // SAFETY:
        // 1. `device` was created above and nothing else refers to it yet.
        unsafe { IoDeleteDevice(device) };
        sockets::shutdown();
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
        sockets::shutdown();
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
    sockets::shutdown();
    let (asked, refused) = pool::injected();
    if refused > 0 || asked > 0 {
        kprint!(
            "low-resources mode: {} of {} pool allocations were refused",
            refused,
            asked
        );
    }
    kprint!("unloaded");
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
///
/// `IoCreateDeviceSecure` would do the DACL part, but it lives in a WDK static library (wdmsec.lib),
/// which we neither have nor want; the Rtl functions and `ZwSetSecurityObject` are plain
/// ntoskrnl exports.
fn secure(device: *mut DEVICE_OBJECT) -> NTSTATUS {
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
