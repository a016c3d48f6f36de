//! An IRP the driver owns, completed exactly once.
//!
//! A [`Request`] is created from the IRP a dispatch routine receives and consumed by
//! [`Request::complete`], so completing twice, or forgetting to, does not compile (the latter
//! warns through `#[must_use]`).

use core::ptr::NonNull;

use windows_sys::Wdk::Foundation::{IO_STACK_LOCATION, IRP};
use windows_sys::Win32::Foundation::NTSTATUS;

use afunix_ntos::{IO_NO_INCREMENT, IofCompleteRequest};
use static_assertions::{const_assert, const_assert_eq};
use windows_sys::Wdk::System::SystemServices::IRP_MJ_DEVICE_CONTROL;

/// `IO_STACK_LOCATION::Parameters.DeviceIoControl` as the WDK lays it out on x64.
///
/// windows-sys' `IO_STACK_LOCATION_0_16` drops the `POINTER_ALIGNMENT` (8-byte alignment) of
/// the WDK's `InputBufferLength` and `IoControlCode`, so its fields sit at the wrong offsets
/// (measured under Wine: its IoControlCode reads 0). This is the real layout.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DeviceIoControl {
    pub output_buffer_length: u32,
    _align_input: u32,
    pub input_buffer_length: u32,
    _align_code: u32,
    pub io_control_code: u32,
    _align_buffer: u32,
    pub type3_input_buffer: *mut core::ffi::c_void,
}

const_assert_eq!(
    core::mem::offset_of!(DeviceIoControl, output_buffer_length),
    0
);
const_assert_eq!(
    core::mem::offset_of!(DeviceIoControl, input_buffer_length),
    8
);
const_assert_eq!(core::mem::offset_of!(DeviceIoControl, io_control_code), 16);
const_assert_eq!(
    core::mem::offset_of!(DeviceIoControl, type3_input_buffer),
    24
);
const_assert!(
    core::mem::size_of::<DeviceIoControl>()
        <= core::mem::size_of::<windows_sys::Wdk::Foundation::IO_STACK_LOCATION_0>()
);
const_assert_eq!(core::mem::offset_of!(IO_STACK_LOCATION, Parameters), 8);

#[must_use = "a request must be completed exactly once"]
pub struct Request {
    irp: NonNull<IRP>,
}

impl Request {
    /// Takes ownership of an IRP handed to a dispatch routine.
    ///
    /// # Safety
    /// `irp` must be the IRP the I/O manager passed to the dispatch routine, not yet
    /// completed, and nothing else may complete it.
    pub unsafe fn from_dispatch(irp: *mut IRP) -> Option<Self> {
        NonNull::new(irp).map(|irp| Request { irp })
    }

    fn irp(&self) -> &IRP {
        // SAFETY:
        // 1. The I/O manager keeps the IRP alive until it is completed, and `self` has not
        //    completed it yet (completion consumes `self`).
        unsafe { self.irp.as_ref() }
    }

    /// Our stack location: `IoGetCurrentIrpStackLocation`.
    pub fn stack(&self) -> Option<&IO_STACK_LOCATION> {
        // SAFETY:
        // 1. While the driver owns the IRP, the Overlay member of the Tail union is the
        //    active one.
        let overlay = unsafe { self.irp().Tail.Overlay };
        // SAFETY:
        // 1. In dispatch, CurrentStackLocation is the active member of this union and points
        //    at this driver's stack location.
        let location = unsafe { overlay.Anonymous2.Anonymous.CurrentStackLocation };
        // SAFETY:
        // 1. The stack location lives as long as the IRP, which outlives `&self`.
        unsafe { location.as_ref() }
    }

    /// The parameters of an IRP_MJ_DEVICE_CONTROL request.
    pub fn device_io_control(&self) -> Option<DeviceIoControl> {
        let stack = self.stack()?;
        if u32::from(stack.MajorFunction) != IRP_MJ_DEVICE_CONTROL {
            return None;
        }
        let parameters = core::ptr::addr_of!(stack.Parameters).cast::<DeviceIoControl>();
        // SAFETY:
        // 1. For IRP_MJ_DEVICE_CONTROL the I/O manager filled Parameters with exactly this
        //    layout (asserted below to fit inside the union and to match the WDK's offsets),
        //    and the union is pointer-aligned.
        Some(unsafe { parameters.read() })
    }

    /// The system buffer of a METHOD_BUFFERED request: `(pointer, length)`, where the length
    /// is the larger of the input and output lengths, as the I/O manager allocated it.
    pub fn system_buffer(&self) -> *mut u8 {
        // SAFETY:
        // 1. For buffered I/O, AssociatedIrp holds SystemBuffer (or null when both lengths
        //    are zero); reading the pointer itself is always valid.
        unsafe { self.irp().AssociatedIrp.SystemBuffer.cast() }
    }

    /// Completes the request with `status`, reporting `information` bytes (or the value the
    /// request defines), and returns `status` for the dispatch routine to return.
    pub fn complete(self, status: NTSTATUS, information: usize) -> NTSTATUS {
        let irp = self.irp.as_ptr();
        // SAFETY:
        // 1. `irp` is valid and ours until IofCompleteRequest (see `irp()`), and nothing else
        //    refers to it while we write its status block.
        let io_status = unsafe { &mut (*irp).IoStatus };
        io_status.Anonymous.Status = status;
        io_status.Information = information;
        // SAFETY:
        // 1. The IRP has not been completed (`self` is consumed here, once), has no cancel
        //    routine set, and may be completed at IRQL <= DISPATCH_LEVEL.
        unsafe { IofCompleteRequest(irp, IO_NO_INCREMENT) };
        status
    }
}
