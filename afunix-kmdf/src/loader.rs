//! Our KMDF loader bootstrap, in place of Microsoft's static library `WdfDriverEntry.lib`
//! (which is proprietary, and which we neither have nor want).
//!
//! The image's entry point is [`FxDriverEntry`]. It binds the driver to KMDF 1.33 through
//! WDFLDR.SYS's `WdfVersionBind`: the loader fills in our function-table pointer (from KMDF
//! 1.15 on it stores the address of its own table there) and hands back the driver's
//! globals. Then it calls our `DriverEntry`. If that fails, or when the driver unloads, it
//! unbinds with `WdfVersionUnbind`, which needs the registry path again: we keep a copy.
//!
//! The interface is the public one of Microsoft's Windows-Driver-Frameworks (`fxldr.h`,
//! `fxlibrarycommon.cpp`): `WDF_BIND_INFO { Size, Component = L"KmdfLibrary", Version = 1.33.0,
//! FuncCount = 458, FuncTable = &our table pointer, Module }`.

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use afunix_kernel::debug::kprint;
use windows_sys::Wdk::Foundation::DRIVER_OBJECT;
use windows_sys::Win32::Foundation::{
    NTSTATUS, STATUS_INVALID_PARAMETER, STATUS_NAME_TOO_LONG, UNICODE_STRING,
};

use crate::wdf::{
    FUNCTION_COUNT, KMDF_VERSION_MAJOR, KMDF_VERSION_MINOR, PWDF_DRIVER_GLOBALS, WDF_BIND_INFO,
    WDF_DRIVER_GLOBALS, WDF_VERSION, WDFFUNC,
};

#[link(name = "WDFLDR.SYS", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    fn WdfVersionBind(
        driver: *mut DRIVER_OBJECT,
        registry_path: *const UNICODE_STRING,
        bind_info: *mut WDF_BIND_INFO,
        globals: *mut PWDF_DRIVER_GLOBALS,
    ) -> NTSTATUS;
    fn WdfVersionUnbind(
        registry_path: *const UNICODE_STRING,
        bind_info: *mut WDF_BIND_INFO,
        globals: PWDF_DRIVER_GLOBALS,
    ) -> NTSTATUS;
}

/// `L"KmdfLibrary"`, the component the loader binds KMDF drivers to.
static COMPONENT: [u16; 12] = afunix_proto::names::ascii_to_utf16("KmdfLibrary\0");

/// The loader's function table, once bound: `WdfFunctions_01033`.
static FUNCTIONS: AtomicPtr<WDFFUNC> = AtomicPtr::new(ptr::null_mut());
/// The driver's globals, once bound: `WdfDriverGlobals`.
static GLOBALS: AtomicPtr<core::ffi::c_void> = AtomicPtr::new(ptr::null_mut());
/// The framework's own unload routine, which our [`unload`] calls before unbinding.
static FRAMEWORK_UNLOAD: AtomicPtr<core::ffi::c_void> = AtomicPtr::new(ptr::null_mut());

/// State touched only by the entry point and the unload routine, which the I/O manager never
/// runs at once (unload comes only after the entry point returned success), both at
/// PASSIVE_LEVEL: so no lock, which would also raise the IRQL above what the loader's
/// functions allow.
struct LoadTime<T>(UnsafeCell<T>);

// SAFETY:
// 1. See the type's comment: the two routines that reach the value never overlap.
unsafe impl<T> Sync for LoadTime<T> {}

impl<T> LoadTime<T> {
    const fn new(value: T) -> Self {
        LoadTime(UnsafeCell::new(value))
    }

    fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// The bind info: handed to the loader at bind and unbind (it keeps its `Module` field up to
/// date), so it lives, writable, as long as the driver is loaded.
static BIND_INFO: LoadTime<WDF_BIND_INFO> = LoadTime::new(WDF_BIND_INFO {
    Size: core::mem::size_of::<WDF_BIND_INFO>() as u32,
    Component: ptr::null(),
    Version: WDF_VERSION {
        Major: KMDF_VERSION_MAJOR,
        Minor: KMDF_VERSION_MINOR,
        Build: 0,
    },
    FuncCount: FUNCTION_COUNT,
    FuncTable: ptr::null_mut(),
    Module: ptr::null_mut(),
});

/// The service's registry path, copied at load for `WdfVersionUnbind` at unload (the one
/// DriverEntry gets is valid only until it returns). Service key paths are short; a longer
/// one fails the load with STATUS_NAME_TOO_LONG.
const REGISTRY_PATH_UNITS: usize = 512;
static REGISTRY_PATH: LoadTime<[u16; REGISTRY_PATH_UNITS]> =
    LoadTime::new([0; REGISTRY_PATH_UNITS]);
/// The counted string over [`REGISTRY_PATH`], in a static too: the loader may keep the pointer
/// it is given, as Microsoft's stub also passes a static one.
static REGISTRY_PATH_STRING: LoadTime<UNICODE_STRING> = LoadTime::new(UNICODE_STRING {
    Length: 0,
    MaximumLength: 0,
    Buffer: ptr::null_mut(),
});

/// Entry `index` of the bound function table; null before binding or past its end (calling
/// that is a bug the caller's `transmute` would turn into a crash, so the wrappers only pass
/// indices of `wdf::index`, all below 458).
pub fn function(index: usize) -> WDFFUNC {
    let table = FUNCTIONS.load(Ordering::Acquire);
    if table.is_null() || index >= FUNCTION_COUNT as usize {
        return ptr::null();
    }
    // SAFETY:
    // 1. A bound table has FUNCTION_COUNT entries (the loader checked our count against its
    //    own), and `index` is below that, so the entry is inside it.
    let entry = unsafe { table.add(index) };
    // SAFETY:
    // 1. `entry` is inside the table, which lives as long as the binding; entries are
    //    pointer-aligned and never change.
    unsafe { entry.read() }
}

/// The driver's globals, the first argument of every KMDF function.
pub fn globals() -> PWDF_DRIVER_GLOBALS {
    GLOBALS.load(Ordering::Acquire)
}

/// The counted string over the kept copy of the registry path.
fn kept_registry_path() -> *const UNICODE_STRING {
    REGISTRY_PATH_STRING.get()
}

/// Copies DriverEntry's registry path into [`REGISTRY_PATH`].
///
/// # Safety
/// `registry_path` is the valid counted string the I/O manager passed to the entry point.
unsafe fn keep_registry_path(registry_path: *const UNICODE_STRING) -> Result<(), NTSTATUS> {
    // SAFETY:
    // 1. The caller's contract.
    let Some(path) = (unsafe { registry_path.as_ref() }) else {
        return Err(STATUS_INVALID_PARAMETER);
    };
    let units = usize::from(path.Length / 2);
    if units > REGISTRY_PATH_UNITS || path.Buffer.is_null() {
        return Err(STATUS_NAME_TOO_LONG);
    }
    // SAFETY:
    // 1. A valid counted string has `Length` readable bytes at `Buffer`.
    let source = unsafe { core::slice::from_raw_parts(path.Buffer, units) };
    // SAFETY:
    // 1. Load-time state (see `LoadTime`): nothing else reaches it now.
    let kept = unsafe { &mut *REGISTRY_PATH.get() };
    let Some(target) = kept.get_mut(..units) else {
        return Err(STATUS_NAME_TOO_LONG);
    };
    target.copy_from_slice(source);
    let bytes = path.Length & !1;
    // SAFETY:
    // 1. As above.
    let string = unsafe { &mut *REGISTRY_PATH_STRING.get() };
    *string = UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: kept.as_mut_ptr(),
    };
    Ok(())
}

/// The image's entry point: bind to KMDF, then run `DriverEntry`.
///
/// # Safety
/// Called once by the I/O manager, with a valid driver object and registry path.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FxDriverEntry(
    driver: *mut DRIVER_OBJECT,
    registry_path: *const UNICODE_STRING,
) -> NTSTATUS {
    if driver.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY:
    // 1. The I/O manager's registry path, valid during this call.
    if let Err(status) = unsafe { keep_registry_path(registry_path) } {
        kprint!("the registry path cannot be kept: {:#010x}", status);
        return status;
    }
    let mut globals: PWDF_DRIVER_GLOBALS = ptr::null_mut();
    let bind = BIND_INFO.get();
    // SAFETY:
    // 1. Load-time state (see `LoadTime`): nothing else reaches it now.
    unsafe {
        (*bind).Component = COMPONENT.as_ptr();
    }
    // SAFETY:
    // 1. As above.
    unsafe {
        (*bind).FuncTable = FUNCTIONS.as_ptr().cast();
    }
    // The kept copy, as for the unbind.
    let kept = kept_registry_path();
    // SAFETY:
    // 1. `driver` is the I/O manager's; `kept` is a valid counted string in a static; `bind`
    //    is a complete WDF_BIND_INFO in a static (the framework keeps a pointer to it) whose
    //    FuncTable points at FUNCTIONS, where the loader stores its table's address;
    //    `globals` is a valid out pointer.
    let status = unsafe { WdfVersionBind(driver, kept, bind, &mut globals) };
    if status < 0 {
        kprint!("WdfVersionBind (KMDF 1.33) failed: {:#010x}", status);
        return status;
    }
    GLOBALS.store(globals, Ordering::Release);

    // SAFETY:
    // 1. Bound: the framework's functions may be called from here on; the arguments are the
    //    I/O manager's own.
    let status = unsafe { crate::driver::DriverEntry(driver, registry_path) };
    if status < 0 {
        unbind();
        return status;
    }
    // The framework installed its own unload routine (WdfDriverCreate, which then sets
    // DisplaceDriverUnload); ours runs it, then unbinds.
    let public = globals.cast::<WDF_DRIVER_GLOBALS>();
    // SAFETY:
    // 1. A successful bind returned the framework's globals (or null, checked), whose public
    //    part is a WDF_DRIVER_GLOBALS (layout asserted in `wdf`), live until the unbind.
    let displace = !public.is_null() && unsafe { (*public).DisplaceDriverUnload } != 0;
    // SAFETY:
    // 1. DriverEntry succeeded and the I/O manager gives the entry point exclusive use of the
    //    driver object until it returns.
    let object = unsafe { &mut *driver };
    if let (true, Some(framework)) = (displace, object.DriverUnload) {
        FRAMEWORK_UNLOAD.store(framework as *mut core::ffi::c_void, Ordering::Release);
        object.DriverUnload = Some(unload);
    }
    status
}

/// The driver's unload: the framework's (which runs our `EvtDriverUnload`), then unbind.
unsafe extern "system" fn unload(driver: *const DRIVER_OBJECT) {
    let framework = FRAMEWORK_UNLOAD.swap(ptr::null_mut(), Ordering::AcqRel);
    if !framework.is_null() {
        type Unload = unsafe extern "system" fn(*const DRIVER_OBJECT);
        // SAFETY:
        // 1. The pointer is the DriverUnload routine the framework installed, saved above.
        let framework =
            unsafe { core::mem::transmute::<*mut core::ffi::c_void, Unload>(framework) };
        // SAFETY:
        // 1. The I/O manager calls unload once, with the driver object; we pass it on.
        unsafe { framework(driver) };
    }
    unbind();
}

/// `WdfVersionUnbind` with the kept registry path.
fn unbind() {
    let globals = GLOBALS.swap(ptr::null_mut(), Ordering::AcqRel);
    let name = kept_registry_path();
    // SAFETY:
    // 1. The same bind info and globals the bind returned, and the same registry path; at
    //    load or unload time (see `LoadTime`).
    let status = unsafe { WdfVersionUnbind(name, BIND_INFO.get(), globals) };
    FUNCTIONS.store(ptr::null_mut(), Ordering::Release);
    if status < 0 {
        kprint!("WdfVersionUnbind failed: {:#010x}", status);
    }
}
