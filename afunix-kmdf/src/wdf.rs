//! Our own bindings of the KMDF 1.33 functions and structures the front end uses.
//!
//! Facts from Microsoft's public KMDF 1.33 headers (Windows-Driver-Frameworks,
//! `src/publicinc/wdf/kmdf/1.33`: `wdffuncenum.h` for the function-table indices, `wdfdriver.h`,
//! `wdfobject.h`, `wdfio.h`, `wdfdevice.h`, `wdfrequest.h` for the structures and prototypes),
//! written here as numbers, with every size and offset asserted at compile time. With the `wdk`
//! feature, `crate::wdk_check` also asserts each of them equal to wdk-sys's bindgen output.
//!
//! Every KMDF function is called through the function table the loader hands out at bind time,
//! with the driver's globals first (`wdffuncenum.h`'s `WdfFunctions[...]` calls). Without the
//! `wdk` feature the table and the globals are ours (`crate::loader`); with it, wdk-sys's
//! `call_unsafe_wdf_function_binding!` makes the call, and the wrappers below only convert the
//! arguments' pointer types.

#![allow(non_camel_case_types, non_snake_case, clippy::upper_case_acronyms)]

use core::ffi::{c_char, c_void};
use core::mem::{offset_of, size_of};

use static_assertions::const_assert_eq;
use windows_sys::Wdk::Foundation::{DRIVER_OBJECT, FILE_OBJECT, MDL};
use windows_sys::Win32::Foundation::{NTSTATUS, UNICODE_STRING};

/// The KMDF version this build binds to: 1.33.
pub const KMDF_VERSION_MAJOR: u32 = 1;
pub const KMDF_VERSION_MINOR: u32 = 33;

/// `WdfFunctionTableNumEntries` of KMDF 1.33 (the same 458 as 1.31).
pub const FUNCTION_COUNT: u32 = 458;

/// Handles: opaque pointers to framework objects.
pub type WDFOBJECT = *mut c_void;
pub type WDFDRIVER = WDFOBJECT;
pub type WDFDEVICE = WDFOBJECT;
pub type WDFQUEUE = WDFOBJECT;
pub type WDFREQUEST = WDFOBJECT;
pub type WDFFILEOBJECT = WDFOBJECT;
/// `PWDFDEVICE_INIT`: an opaque framework structure, owned by us until `WdfDeviceCreate`.
pub type PWDFDEVICE_INIT = *mut c_void;
/// `PWDF_DRIVER_GLOBALS`: the per-driver globals the loader returns at bind time.
pub type PWDF_DRIVER_GLOBALS = *mut c_void;

/// `WDF_TRI_STATE`.
pub const WDF_FALSE: i32 = 0;
pub const WDF_USE_DEFAULT: i32 = 2;
/// `WDF_DRIVER_INIT_FLAGS::WdfDriverInitNonPnpDriver`.
pub const WDF_DRIVER_INIT_NON_PNP_DRIVER: u32 = 0x1;
/// `WDF_EXECUTION_LEVEL::WdfExecutionLevelInheritFromParent`.
pub const WDF_EXECUTION_LEVEL_INHERIT_FROM_PARENT: i32 = 1;
/// `WDF_SYNCHRONIZATION_SCOPE::WdfSynchronizationScopeInheritFromParent`.
pub const WDF_SYNCHRONIZATION_SCOPE_INHERIT_FROM_PARENT: i32 = 1;
/// `WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchParallel`.
pub const WDF_IO_QUEUE_DISPATCH_PARALLEL: i32 = 2;
/// `WDF_DEVICE_IO_TYPE::WdfDeviceIoDirect`.
pub const WDF_DEVICE_IO_DIRECT: i32 = 3;
/// `WDF_FILEOBJECT_CLASS::WdfFileObjectWdfCannotUseFsContexts`: the framework keeps its own
/// file object and may not use the WDM file object's FsContext fields.
pub const WDF_FILEOBJECT_WDF_CANNOT_USE_FS_CONTEXTS: i32 = 4;
/// `WDF_REQUEST_TYPE::WdfRequestTypeDeviceControl`.
pub const WDF_REQUEST_TYPE_DEVICE_CONTROL: i32 = 0xe;

/// The callbacks (all `NTAPI`).
pub type PFN_WDF_DRIVER_UNLOAD = Option<unsafe extern "system" fn(driver: WDFDRIVER)>;
pub type PFN_WDF_DEVICE_FILE_CREATE =
    Option<unsafe extern "system" fn(device: WDFDEVICE, request: WDFREQUEST, file: WDFFILEOBJECT)>;
pub type PFN_WDF_FILE_EVENT = Option<unsafe extern "system" fn(file: WDFFILEOBJECT)>;
pub type PFN_WDF_IO_QUEUE_IO_READ_WRITE =
    Option<unsafe extern "system" fn(queue: WDFQUEUE, request: WDFREQUEST, length: usize)>;
pub type PFN_WDF_IO_IN_CALLER_CONTEXT =
    Option<unsafe extern "system" fn(device: WDFDEVICE, request: WDFREQUEST)>;
pub type PFN_WDF_REQUEST_CANCEL = Option<unsafe extern "system" fn(request: WDFREQUEST)>;
pub type PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL = Option<
    unsafe extern "system" fn(
        queue: WDFQUEUE,
        request: WDFREQUEST,
        output_length: usize,
        input_length: usize,
        code: u32,
    ),
>;
pub type PFN_WDF_IO_QUEUE_IO_CANCELED_ON_QUEUE =
    Option<unsafe extern "system" fn(queue: WDFQUEUE, request: WDFREQUEST)>;
pub type PFN_WDF_OBJECT_CONTEXT_CLEANUP = Option<unsafe extern "system" fn(object: WDFOBJECT)>;
/// Callbacks we leave empty, typed only by their size.
pub type PFN_UNUSED = Option<unsafe extern "system" fn()>;

/// `WDF_DRIVER_CONFIG`.
#[repr(C)]
#[derive(Debug)]
pub struct WDF_DRIVER_CONFIG {
    pub Size: u32,
    pub EvtDriverDeviceAdd: PFN_UNUSED,
    pub EvtDriverUnload: PFN_WDF_DRIVER_UNLOAD,
    pub DriverInitFlags: u32,
    pub DriverPoolTag: u32,
}

/// `WDF_OBJECT_CONTEXT_TYPE_INFO`: names a context type; `UniqueType` points at itself.
#[repr(C)]
#[derive(Debug)]
pub struct WDF_OBJECT_CONTEXT_TYPE_INFO {
    pub Size: u32,
    pub ContextName: *const c_char,
    pub ContextSize: usize,
    pub UniqueType: *const WDF_OBJECT_CONTEXT_TYPE_INFO,
    pub EvtDriverGetUniqueContextType: PFN_UNUSED,
}

/// `WDF_OBJECT_ATTRIBUTES`.
#[repr(C)]
#[derive(Debug)]
pub struct WDF_OBJECT_ATTRIBUTES {
    pub Size: u32,
    pub EvtCleanupCallback: PFN_WDF_OBJECT_CONTEXT_CLEANUP,
    pub EvtDestroyCallback: PFN_UNUSED,
    pub ExecutionLevel: i32,
    pub SynchronizationScope: i32,
    pub ParentObject: WDFOBJECT,
    pub ContextSizeOverride: usize,
    pub ContextTypeInfo: *const WDF_OBJECT_CONTEXT_TYPE_INFO,
}

impl WDF_OBJECT_ATTRIBUTES {
    /// `WDF_OBJECT_ATTRIBUTES_INIT_CONTEXT_TYPE`: zeroed, inherit execution level and
    /// synchronisation scope, with a context of type `context`.
    pub fn with_context(context: &'static WDF_OBJECT_CONTEXT_TYPE_INFO) -> Self {
        WDF_OBJECT_ATTRIBUTES {
            Size: size_of::<WDF_OBJECT_ATTRIBUTES>() as u32,
            EvtCleanupCallback: None,
            EvtDestroyCallback: None,
            ExecutionLevel: WDF_EXECUTION_LEVEL_INHERIT_FROM_PARENT,
            SynchronizationScope: WDF_SYNCHRONIZATION_SCOPE_INHERIT_FROM_PARENT,
            ParentObject: core::ptr::null_mut(),
            ContextSizeOverride: 0,
            ContextTypeInfo: context.UniqueType,
        }
    }
}

/// `WDF_IO_QUEUE_CONFIG` (1.33: `Settings.Parallel.NumberOfPresentedRequests`, then `Driver`).
#[repr(C)]
#[derive(Debug)]
pub struct WDF_IO_QUEUE_CONFIG {
    pub Size: u32,
    pub DispatchType: i32,
    pub PowerManaged: i32,
    pub AllowZeroLengthRequests: u8,
    pub DefaultQueue: u8,
    pub EvtIoDefault: PFN_UNUSED,
    pub EvtIoRead: PFN_WDF_IO_QUEUE_IO_READ_WRITE,
    pub EvtIoWrite: PFN_WDF_IO_QUEUE_IO_READ_WRITE,
    pub EvtIoDeviceControl: PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL,
    pub EvtIoInternalDeviceControl: PFN_UNUSED,
    pub EvtIoStop: PFN_UNUSED,
    pub EvtIoResume: PFN_UNUSED,
    pub EvtIoCanceledOnQueue: PFN_WDF_IO_QUEUE_IO_CANCELED_ON_QUEUE,
    /// `Settings.Parallel.NumberOfPresentedRequests`.
    pub NumberOfPresentedRequests: u32,
    pub Driver: WDFDRIVER,
}

/// `WDF_FILEOBJECT_CONFIG`.
#[repr(C)]
#[derive(Debug)]
pub struct WDF_FILEOBJECT_CONFIG {
    pub Size: u32,
    pub EvtDeviceFileCreate: PFN_WDF_DEVICE_FILE_CREATE,
    pub EvtFileClose: PFN_WDF_FILE_EVENT,
    pub EvtFileCleanup: PFN_WDF_FILE_EVENT,
    pub AutoForwardCleanupClose: i32,
    pub FileObjectClass: i32,
}

/// `WDF_REQUEST_PARAMETERS`, with the `Parameters` union as its `DeviceIoControl` member (the
/// only one we read; the union is 32 bytes, as that member is).
#[repr(C)]
#[derive(Debug)]
pub struct WDF_REQUEST_PARAMETERS {
    pub Size: u16,
    pub MinorFunction: u8,
    pub Type: i32,
    pub OutputBufferLength: usize,
    pub InputBufferLength: usize,
    pub IoControlCode: u32,
    pub Type3InputBuffer: *mut c_void,
}

impl Default for WDF_REQUEST_PARAMETERS {
    /// `WDF_REQUEST_PARAMETERS_INIT`.
    fn default() -> Self {
        WDF_REQUEST_PARAMETERS {
            Size: size_of::<WDF_REQUEST_PARAMETERS>() as u16,
            MinorFunction: 0,
            Type: 0,
            OutputBufferLength: 0,
            InputBufferLength: 0,
            IoControlCode: 0,
            Type3InputBuffer: core::ptr::null_mut(),
        }
    }
}

/// `WDF_VERSION` and `WDF_BIND_INFO` (the loader's interface, `fxldr.h`).
#[repr(C)]
#[derive(Debug)]
pub struct WDF_VERSION {
    pub Major: u32,
    pub Minor: u32,
    pub Build: u32,
}

#[repr(C)]
#[derive(Debug)]
pub struct WDF_BIND_INFO {
    pub Size: u32,
    pub Component: *const u16,
    pub Version: WDF_VERSION,
    pub FuncCount: u32,
    /// Points at the client's function-table pointer: from KMDF 1.15 on, the loader stores
    /// the address of its table there rather than copying the table.
    pub FuncTable: *mut *const WDFFUNC,
    pub Module: *mut c_void,
}

/// `WDF_DRIVER_GLOBALS`: the public part of the framework's per-driver globals. The loader
/// allocates it; we only read `DisplaceDriverUnload`, which `WdfDriverCreate` sets when the
/// framework installed its own unload routine (for a non-PnP driver: when it has an
/// `EvtDriverUnload`).
#[repr(C)]
#[derive(Debug)]
pub struct WDF_DRIVER_GLOBALS {
    pub Driver: WDFDRIVER,
    pub DriverFlags: u32,
    pub DriverTag: u32,
    pub DriverName: [u8; 32],
    pub DisplaceDriverUnload: u8,
}

/// One entry of the function table.
pub type WDFFUNC = *const c_void;

// x64 layouts, as the 1.33 headers define them.
const_assert_eq!(size_of::<WDF_DRIVER_CONFIG>(), 32);
const_assert_eq!(offset_of!(WDF_DRIVER_CONFIG, EvtDriverUnload), 16);
const_assert_eq!(offset_of!(WDF_DRIVER_CONFIG, DriverInitFlags), 24);
const_assert_eq!(offset_of!(WDF_DRIVER_CONFIG, DriverPoolTag), 28);
const_assert_eq!(size_of::<WDF_OBJECT_CONTEXT_TYPE_INFO>(), 40);
const_assert_eq!(offset_of!(WDF_OBJECT_CONTEXT_TYPE_INFO, ContextName), 8);
const_assert_eq!(offset_of!(WDF_OBJECT_CONTEXT_TYPE_INFO, ContextSize), 16);
const_assert_eq!(offset_of!(WDF_OBJECT_CONTEXT_TYPE_INFO, UniqueType), 24);
const_assert_eq!(size_of::<WDF_OBJECT_ATTRIBUTES>(), 56);
const_assert_eq!(offset_of!(WDF_OBJECT_ATTRIBUTES, ExecutionLevel), 24);
const_assert_eq!(offset_of!(WDF_OBJECT_ATTRIBUTES, SynchronizationScope), 28);
const_assert_eq!(offset_of!(WDF_OBJECT_ATTRIBUTES, ParentObject), 32);
const_assert_eq!(offset_of!(WDF_OBJECT_ATTRIBUTES, ContextSizeOverride), 40);
const_assert_eq!(offset_of!(WDF_OBJECT_ATTRIBUTES, ContextTypeInfo), 48);
const_assert_eq!(size_of::<WDF_IO_QUEUE_CONFIG>(), 96);
const_assert_eq!(offset_of!(WDF_IO_QUEUE_CONFIG, DispatchType), 4);
const_assert_eq!(offset_of!(WDF_IO_QUEUE_CONFIG, PowerManaged), 8);
const_assert_eq!(offset_of!(WDF_IO_QUEUE_CONFIG, AllowZeroLengthRequests), 12);
const_assert_eq!(offset_of!(WDF_IO_QUEUE_CONFIG, DefaultQueue), 13);
const_assert_eq!(offset_of!(WDF_IO_QUEUE_CONFIG, EvtIoRead), 24);
const_assert_eq!(offset_of!(WDF_IO_QUEUE_CONFIG, EvtIoWrite), 32);
const_assert_eq!(
    offset_of!(WDF_IO_QUEUE_CONFIG, NumberOfPresentedRequests),
    80
);
const_assert_eq!(offset_of!(WDF_IO_QUEUE_CONFIG, Driver), 88);
const_assert_eq!(size_of::<WDF_FILEOBJECT_CONFIG>(), 40);
const_assert_eq!(offset_of!(WDF_FILEOBJECT_CONFIG, EvtDeviceFileCreate), 8);
const_assert_eq!(offset_of!(WDF_FILEOBJECT_CONFIG, EvtFileClose), 16);
const_assert_eq!(offset_of!(WDF_FILEOBJECT_CONFIG, EvtFileCleanup), 24);
const_assert_eq!(
    offset_of!(WDF_FILEOBJECT_CONFIG, AutoForwardCleanupClose),
    32
);
const_assert_eq!(offset_of!(WDF_FILEOBJECT_CONFIG, FileObjectClass), 36);
const_assert_eq!(size_of::<WDF_REQUEST_PARAMETERS>(), 40);
const_assert_eq!(offset_of!(WDF_REQUEST_PARAMETERS, Type), 4);
const_assert_eq!(offset_of!(WDF_REQUEST_PARAMETERS, OutputBufferLength), 8);
const_assert_eq!(offset_of!(WDF_REQUEST_PARAMETERS, InputBufferLength), 16);
const_assert_eq!(offset_of!(WDF_REQUEST_PARAMETERS, IoControlCode), 24);
const_assert_eq!(offset_of!(WDF_REQUEST_PARAMETERS, Type3InputBuffer), 32);
const_assert_eq!(size_of::<WDF_DRIVER_GLOBALS>(), 56);
const_assert_eq!(offset_of!(WDF_DRIVER_GLOBALS, DriverName), 16);
const_assert_eq!(offset_of!(WDF_DRIVER_GLOBALS, DisplaceDriverUnload), 48);
const_assert_eq!(size_of::<WDF_VERSION>(), 12);
const_assert_eq!(size_of::<WDF_BIND_INFO>(), 48);
const_assert_eq!(offset_of!(WDF_BIND_INFO, Component), 8);
const_assert_eq!(offset_of!(WDF_BIND_INFO, Version), 16);
const_assert_eq!(offset_of!(WDF_BIND_INFO, FuncCount), 28);
const_assert_eq!(offset_of!(WDF_BIND_INFO, FuncTable), 32);
const_assert_eq!(offset_of!(WDF_BIND_INFO, Module), 40);

/// Declares each KMDF function we call: its `WDFFUNCENUM` index and its prototype (without the
/// leading globals). Each becomes an `unsafe fn` of the same name. Without the `wdk` feature it
/// calls entry `index` of the bound table with our globals; with it, wdk-sys's macro makes the
/// call and `index` is only checked against wdk-sys's (`crate::wdk_check`).
macro_rules! wdf_functions {
    ($(
        $(#[$doc:meta])*
        $name:ident = $index:literal ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;
    )*) => {
        /// The `WDFFUNCENUM` index of each function we call.
        pub mod index {
            $(
                #[allow(non_upper_case_globals)]
                pub const $name: usize = $index;
            )*
        }

        $(
            $(#[$doc])*
            ///
            /// # Safety
            /// The driver is bound to KMDF (`crate::loader` has run), and the arguments are
            /// what the KMDF documentation requires of this function, at an IRQL it allows.
            #[cfg(not(feature = "wdk"))]
            pub unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                type Function =
                    unsafe extern "system" fn(PWDF_DRIVER_GLOBALS $(, $ty)*) $(-> $ret)?;
                let entry = crate::loader::function(index::$name);
                // SAFETY:
                // 1. `entry` is the loader's table entry `index::$name`, the function whose
                //    prototype (`wdf*.h`'s PFN_ type for it) `Function` spells; a bound table
                //    has all of its 458 entries, and `loader::function` checks the index.
                let function = unsafe { core::mem::transmute::<WDFFUNC, Function>(entry) };
                // SAFETY:
                // 1. The caller's contract; the globals are the ones the loader bound.
                unsafe { function(crate::loader::globals() $(, $arg)*) }
            }

            $(#[$doc])*
            ///
            /// # Safety
            /// As above.
            #[cfg(feature = "wdk")]
            pub unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                // SAFETY:
                // 1. The caller's contract. Each argument is converted to wdk-sys's type of
                //    the same layout (`crate::wdk_check` asserts sizes and offsets equal).
                #[allow(clippy::useless_transmute, clippy::missing_transmute_annotations)]
                unsafe {
                    wdk_sys::call_unsafe_wdf_function_binding!(
                        $name $(, core::mem::transmute($arg))*
                    ) $(as $ret)?
                }
            }
        )*
    };
}

wdf_functions! {
    WdfDriverCreate = 116 (
        driver_object: *mut DRIVER_OBJECT,
        registry_path: *const UNICODE_STRING,
        attributes: *const WDF_OBJECT_ATTRIBUTES,
        config: *const WDF_DRIVER_CONFIG,
        driver: *mut WDFDRIVER,
    ) -> NTSTATUS;
    WdfControlDeviceInitAllocate = 25 (
        driver: WDFDRIVER,
        sddl: *const UNICODE_STRING,
    ) -> PWDFDEVICE_INIT;
    WdfDeviceInitFree = 54 (init: PWDFDEVICE_INIT);
    WdfDeviceInitSetIoType = 61 (init: PWDFDEVICE_INIT, io_type: i32);
    WdfDeviceInitSetDeviceType = 66 (init: PWDFDEVICE_INIT, device_type: u32);
    WdfDeviceInitSetCharacteristics = 70 (
        init: PWDFDEVICE_INIT,
        characteristics: u32,
        or_in_values: u8,
    );
    WdfDeviceInitSetExclusive = 62 (init: PWDFDEVICE_INIT, exclusive: u8);
    WdfDeviceInitAssignName = 67 (init: PWDFDEVICE_INIT, name: *const UNICODE_STRING) -> NTSTATUS;
    WdfDeviceInitSetFileObjectConfig = 71 (
        init: PWDFDEVICE_INIT,
        config: *const WDF_FILEOBJECT_CONFIG,
        attributes: *const WDF_OBJECT_ATTRIBUTES,
    );
    WdfDeviceInitSetRequestAttributes = 72 (
        init: PWDFDEVICE_INIT,
        attributes: *const WDF_OBJECT_ATTRIBUTES,
    );
    WdfDeviceInitSetIoInCallerContextCallback = 74 (
        init: PWDFDEVICE_INIT,
        callback: PFN_WDF_IO_IN_CALLER_CONTEXT,
    );
    WdfDeviceCreate = 75 (
        init: *mut PWDFDEVICE_INIT,
        attributes: *const WDF_OBJECT_ATTRIBUTES,
        device: *mut WDFDEVICE,
    ) -> NTSTATUS;
    WdfDeviceCreateSymbolicLink = 80 (device: WDFDEVICE, name: *const UNICODE_STRING) -> NTSTATUS;
    WdfDeviceWdmGetDeviceObject = 31 (device: WDFDEVICE) -> *mut windows_sys::Wdk::Foundation::DEVICE_OBJECT;
    WdfDeviceEnqueueRequest = 91 (device: WDFDEVICE, request: WDFREQUEST) -> NTSTATUS;
    WdfControlFinishInitializing = 27 (device: WDFDEVICE);
    WdfIoQueueCreate = 152 (
        device: WDFDEVICE,
        config: *const WDF_IO_QUEUE_CONFIG,
        attributes: *const WDF_OBJECT_ATTRIBUTES,
        queue: *mut WDFQUEUE,
    ) -> NTSTATUS;
    WdfRequestComplete = 263 (request: WDFREQUEST, status: NTSTATUS);
    WdfRequestCompleteWithInformation = 265 (
        request: WDFREQUEST,
        status: NTSTATUS,
        information: usize,
    );
    WdfRequestGetParameters = 266 (request: WDFREQUEST, parameters: *mut WDF_REQUEST_PARAMETERS);
    WdfRequestUnmarkCancelable = 256 (request: WDFREQUEST) -> NTSTATUS;
    WdfRequestMarkCancelableEx = 393 (
        request: WDFREQUEST,
        cancel: PFN_WDF_REQUEST_CANCEL,
    ) -> NTSTATUS;
    WdfRequestRetrieveInputBuffer = 269 (
        request: WDFREQUEST,
        minimum: usize,
        buffer: *mut *mut c_void,
        length: *mut usize,
    ) -> NTSTATUS;
    WdfRequestRetrieveOutputBuffer = 270 (
        request: WDFREQUEST,
        minimum: usize,
        buffer: *mut *mut c_void,
        length: *mut usize,
    ) -> NTSTATUS;
    WdfRequestRetrieveInputWdmMdl = 271 (request: WDFREQUEST, mdl: *mut *mut MDL) -> NTSTATUS;
    WdfRequestRetrieveOutputWdmMdl = 272 (request: WDFREQUEST, mdl: *mut *mut MDL) -> NTSTATUS;
    WdfRequestGetFileObject = 277 (request: WDFREQUEST) -> WDFFILEOBJECT;
    WdfFileObjectWdmGetFileObject = 140 (file: WDFFILEOBJECT) -> *mut FILE_OBJECT;
    WdfObjectGetTypedContextWorker = 202 (
        object: WDFOBJECT,
        type_info: *const WDF_OBJECT_CONTEXT_TYPE_INFO,
    ) -> *mut c_void;
    WdfObjectDelete = 208 (object: WDFOBJECT);
}
