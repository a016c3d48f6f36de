//! An IRP the driver owns, completed exactly once.
//!
//! A [`Request`] is created from the IRP a dispatch routine receives and consumed by
//! [`Request::complete`], so completing twice, or forgetting to, does not compile (the latter
//! warns through `#[must_use]`).

use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};

use windows_sys::Wdk::Foundation::{IO_STACK_LOCATION, IRP, MDL};
use windows_sys::Win32::Foundation::NTSTATUS;

use afunix_core::Token;
use afunix_device::FileId;
use afunix_kernel::front::{DataBuffer, FrontRequest, Held, ReplyArea};
use afunix_kernel::sockets;
use afunix_ntos::{
    IO_NO_INCREMENT, IoAcquireCancelSpinLock, IoReleaseCancelSpinLock, IofCompleteRequest,
};
use afunix_proto::ioctl::METHOD_OUT_DIRECT;
use static_assertions::{const_assert, const_assert_eq};
use windows_sys::Wdk::Foundation::DEVICE_OBJECT;
use windows_sys::Wdk::System::SystemServices::{IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ};

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

/// `SL_PENDING_RETURNED`.
const SL_PENDING_RETURNED: u8 = 0x01;

pub type CancelRoutine = unsafe extern "system" fn(*mut DEVICE_OBJECT, *mut IRP);

/// IoSetCancelRoutine: sets the IRP's cancel routine, returning the one it replaced.
fn swap_cancel_routine(irp: NonNull<IRP>, routine: Option<CancelRoutine>) -> Option<CancelRoutine> {
    // SAFETY:
    // 1. The IRP is live while we own it; this only computes the field's address.
    let field = unsafe { core::ptr::addr_of_mut!((*irp.as_ptr()).CancelRoutine) };
    // IoSetCancelRoutine: an interlocked exchange of the CancelRoutine field.
    // SAFETY:
    // 1. The field is a pointer-sized, pointer-aligned function pointer inside a live IRP;
    //    the I/O manager also only touches it with interlocked operations.
    let slot = unsafe { AtomicPtr::<c_void>::from_ptr(field.cast()) };
    let new = routine.map_or(core::ptr::null_mut(), |r| r as *mut c_void);
    let old = slot.swap(new, Ordering::AcqRel);
    if old.is_null() {
        None
    } else {
        // SAFETY:
        // 1. A non-null value in CancelRoutine is one we stored: a CancelRoutine.
        Some(unsafe { core::mem::transmute::<*mut c_void, CancelRoutine>(old) })
    }
}

/// The cancel routine of every pending request (CancelIoEx, thread or process exit). The I/O
/// manager calls it holding the cancel spin lock; the engine completes the request (with
/// ECANCELED, or with what it achieved) through `sockets::drain`.
///
/// The engine is asked to cancel *before* the cancel spin lock is released. While we hold
/// it, [`Request::resume`] cannot finish, so this IRP cannot be completed and its address
/// cannot be reused by a new request that the token would then wrongly name. Lock order:
/// cancel spin lock, then the engine's lock; nothing takes them the other way round (`resume`
/// runs without the engine's lock).
unsafe extern "system" fn cancel(_device: *mut DEVICE_OBJECT, irp: *mut IRP) {
    // SAFETY:
    // 1. The I/O manager passes a live IRP and holds the cancel spin lock, which keeps the
    //    IRP from being completed (see `Request::resume`) until we release it below.
    let irql = unsafe { (*irp).CancelIrql };
    sockets::cancel(Token(irp as u64));
    // SAFETY:
    // 1. Releases the cancel spin lock the I/O manager acquired for us, at its IRQL. After
    //    this the IRP is not touched.
    unsafe { IoReleaseCancelSpinLock(irql) };
    sockets::drain::<Request>();
}

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

    /// Whether the I/O manager locked the MDL's pages for writing: for IRP_MJ_READ and for
    /// METHOD_OUT_DIRECT IOCTLs (RECV, RECVFROM) it does (`IoWriteAccess`); for
    /// IRP_MJ_WRITE and METHOD_IN_DIRECT (SEND, SENDTO) it locks them for reading only.
    pub fn pages_writable(&self) -> bool {
        match u32::from(self.major()) {
            IRP_MJ_READ => true,
            IRP_MJ_DEVICE_CONTROL => self
                .device_io_control()
                .is_some_and(|p| p.io_control_code & 3 == METHOD_OUT_DIRECT),
            _ => false,
        }
    }

    /// The input of a METHOD_BUFFERED (or direct) IOCTL, in the system buffer, with a
    /// lifetime of the caller's choosing.
    ///
    /// # Safety
    /// The slice must not be used once the request has been completed or made pending, nor
    /// while a reply is written into the system buffer.
    pub unsafe fn system_input<'a>(&self) -> &'a [u8] {
        let Some(parameters) = self.device_io_control() else {
            return &[];
        };
        let buffer = self.system_buffer();
        if buffer.is_null() || parameters.input_buffer_length == 0 {
            return &[];
        }
        // SAFETY:
        // 1. For METHOD_BUFFERED and the direct methods, the system buffer holds the caller's
        //    InputBufferLength bytes of input, until the request completes.
        unsafe { core::slice::from_raw_parts(buffer, parameters.input_buffer_length as usize) }
    }

    /// The system buffer as the reply area: OutputBufferLength bytes (METHOD_BUFFERED).
    pub fn system_buffer_out(&mut self) -> Option<&mut [u8]> {
        let length = self.device_io_control()?.output_buffer_length;
        self.system_buffer_slice(length)
    }

    /// The system buffer as the request it holds, to be rewritten in place as the reply
    /// (POLL): InputBufferLength bytes. The decoder checked the output is at least as long.
    pub fn system_buffer_in_out(&mut self) -> Option<&mut [u8]> {
        let length = self.device_io_control()?.input_buffer_length;
        self.system_buffer_slice(length)
    }

    fn system_buffer_slice(&mut self, length: u32) -> Option<&mut [u8]> {
        let buffer = self.system_buffer();
        if buffer.is_null() {
            return None;
        }
        // SAFETY:
        // 1. The I/O manager allocated the system buffer with max(InputBufferLength,
        //    OutputBufferLength) bytes; `length` is one of the two; `&mut self` makes this the
        //    only view while it lives.
        Some(unsafe { core::slice::from_raw_parts_mut(buffer, length as usize) })
    }

    /// The IRP_MJ_* code of this request.
    pub fn major(&self) -> u8 {
        self.stack().map_or(u8::MAX, |s| s.MajorFunction)
    }

    /// The file object the request was issued on, as our [`FileId`].
    pub fn file_id(&self) -> FileId {
        FileId(self.stack().map_or(core::ptr::null_mut(), |s| s.FileObject) as u64)
    }

    /// The IRP's MDL (direct I/O): null or the one the I/O manager built and locked.
    fn mdl(&self) -> *mut MDL {
        self.irp().MdlAddress
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
        // No priority boost, even for a request that was waited for (the documentation
        // suggests IO_NETWORK_INCREMENT there): on one CPU a boosted reader would preempt the
        // writer that fed it after every send, and the engine benchmark's model of that
        // (`--handoff`) falls at times into one switch per send, up to 15x slower for small
        // writes. Worth measuring on Windows before changing.
        // SAFETY:
        // 1. The IRP has not been completed (`self` is consumed here, once), has no cancel
        //    routine set, and may be completed at IRQL <= DISPATCH_LEVEL.
        unsafe { IofCompleteRequest(irp, IO_NO_INCREMENT) };
        status
    }
}

impl FrontRequest for Request {
    /// The IRP's address.
    fn token(&self) -> Token {
        Token(self.irp.as_ptr() as u64)
    }

    fn file(&self) -> FileId {
        self.file_id()
    }

    /// The MDL's pages, mapped, recording whether they may be written.
    fn data_buffer(&mut self) -> Option<DataBuffer> {
        // SAFETY:
        // 1. The IRP's MDL, locked by the I/O manager, valid until we complete the IRP.
        unsafe { DataBuffer::of_mdl(self.mdl(), self.pages_writable()) }
    }

    fn reply_area(&mut self, area: ReplyArea) -> Option<&mut [u8]> {
        match area {
            ReplyArea::DataHeader => {
                let data = self.data_buffer()?;
                // SAFETY:
                // 1. The slice lives no longer than `&mut self`: we hold the IRP, and nothing
                //    else writes its pages meanwhile.
                unsafe { data.writable_slice() }
            }
            ReplyArea::Output => self.system_buffer_out(),
            ReplyArea::Input => self.system_buffer_in_out(),
        }
    }

    fn complete(self, status: NTSTATUS, information: usize) -> NTSTATUS {
        Request::complete(self, status, information)
    }

    /// IoMarkIrpPending, and [`cancel`] as the cancel routine.
    fn hold(self, data: Option<DataBuffer>) -> (Held, bool) {
        if let Some(stack) = self.stack() {
            let stack = core::ptr::from_ref(stack).cast_mut();
            // IoMarkIrpPending: SL_PENDING_RETURNED in our stack location's Control.
            // SAFETY:
            // 1. Our stack location belongs to us while we own the IRP; Control is a plain u8.
            unsafe { (*stack).Control |= SL_PENDING_RETURNED };
        }
        // The request becomes the held one (Request has no Drop: nothing else to undo).
        let irp = self.irp;
        let held = Held {
            object: irp.cast(),
            data,
        };
        let _ = swap_cancel_routine(irp, Some(cancel));
        // SAFETY:
        // 1. Reading the Cancel flag of an IRP we still own.
        let cancelled = unsafe { irp.as_ref().Cancel };
        if cancelled && swap_cancel_routine(irp, None).is_some() {
            // Cancelled before our routine was in place, and we took it back: ours to cancel.
            return (held, true);
        }
        (held, false)
    }

    /// Clears the cancel routine under the cancel spin lock, so that a cancel routine already
    /// running (it holds that lock until it has read what it needs from the IRP) is done with
    /// the IRP before it is completed.
    unsafe fn resume(held: Held) -> Request {
        let irp = held.object.cast::<IRP>();
        let mut irql = 0u8;
        // SAFETY:
        // 1. `irql` is a valid out pointer; we are at IRQL <= DISPATCH_LEVEL.
        unsafe { IoAcquireCancelSpinLock(&mut irql) };
        let _ = swap_cancel_routine(irp, None);
        // SAFETY:
        // 1. Releases the lock acquired just above, restoring its IRQL.
        unsafe { IoReleaseCancelSpinLock(irql) };
        Request { irp }
    }
}
