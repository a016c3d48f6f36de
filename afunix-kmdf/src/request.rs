//! A WDFREQUEST the driver owns, completed exactly once, and the contexts of requests and
//! file objects.
//!
//! Buffers are reached through the framework's request calls: the IOCTL's system buffer with
//! `WdfRequestRetrieveInputBuffer`/`OutputBuffer`, the caller's pages (direct I/O) through the
//! request's MDL (`WdfRequestRetrieveInputWdmMdl`/`OutputWdmMdl`), mapped as WDM's front end
//! maps them.
//!
//! **Cancellation.** A pending request is made cancelable with `WdfRequestMarkCancelableEx`.
//! When the framework cancels it, [`cancel`] asks the engine to cancel its token, and the
//! engine's completion comes back through `sockets::drain` like any other. The one race is
//! KMDF's: once the framework has decided to call the cancel callback,
//! `WdfRequestUnmarkCancelable` returns STATUS_CANCELLED, and the request must then not be
//! completed until that callback has run, since the callback still uses it. So both sides
//! check in at a rendezvous in the request's context (`afunix_device::rendezvous`, tested on
//! the host): whichever of `drain` (with the result) and the cancel callback arrives second
//! completes the request. The request therefore stays alive, and its token names only it,
//! while the cancel callback asks the engine about it.

use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use afunix_core::Token;
use afunix_device::FileId;
use afunix_device::rendezvous::Rendezvous;
use afunix_kernel::front::{DataBuffer, FrontRequest, Held, ReplyArea, map_mdl};
use afunix_kernel::sockets;
use afunix_proto::ioctl::METHOD_OUT_DIRECT;
use windows_sys::Wdk::Foundation::MDL;
use windows_sys::Win32::Foundation::{NTSTATUS, STATUS_CANCELLED};

use crate::wdf::{
    WDF_OBJECT_CONTEXT_TYPE_INFO, WDFFILEOBJECT, WDFOBJECT, WDFREQUEST,
    WdfFileObjectWdmGetFileObject, WdfObjectGetTypedContextWorker,
    WdfRequestCompleteWithInformation, WdfRequestGetFileObject, WdfRequestMarkCancelableEx,
    WdfRequestRetrieveInputBuffer, WdfRequestRetrieveInputWdmMdl, WdfRequestRetrieveOutputBuffer,
    WdfRequestRetrieveOutputWdmMdl, WdfRequestUnmarkCancelable,
};

/// A context type's description, which names itself (`UniqueType`) as KMDF requires.
pub struct ContextType(pub WDF_OBJECT_CONTEXT_TYPE_INFO);

// SAFETY:
// 1. Immutable after compilation: pointers to itself and to a static string.
unsafe impl Sync for ContextType {}

/// The file object's context: the socket's key in the engine, set at create.
#[repr(C)]
#[derive(Debug)]
pub struct FileContext {
    pub file: AtomicUsize,
}

pub static FILE_CONTEXT: ContextType = ContextType(WDF_OBJECT_CONTEXT_TYPE_INFO {
    Size: core::mem::size_of::<WDF_OBJECT_CONTEXT_TYPE_INFO>() as u32,
    ContextName: c"afunix FileContext".as_ptr(),
    ContextSize: core::mem::size_of::<FileContext>(),
    UniqueType: &FILE_CONTEXT.0,
    EvtDriverGetUniqueContextType: None,
});

/// A request's context: what it is (so a held request can be taken back knowing its kind),
/// and the cancellation rendezvous.
#[repr(C)]
#[derive(Debug)]
pub struct RequestContext {
    /// [`Kind`], encoded by [`Kind::encode`].
    kind: AtomicU32,
    /// The IOCTL's code, for a device control.
    code: AtomicU32,
    /// `WdfRequestMarkCancelableEx` succeeded: it must be unmarked before completion.
    cancelable: AtomicBool,
    /// `WdfRequestUnmarkCancelable` said the cancel callback has been or will be called: the
    /// result goes to the rendezvous.
    meet: AtomicBool,
    rendezvous: Rendezvous,
}

pub static REQUEST_CONTEXT: ContextType = ContextType(WDF_OBJECT_CONTEXT_TYPE_INFO {
    Size: core::mem::size_of::<WDF_OBJECT_CONTEXT_TYPE_INFO>() as u32,
    ContextName: c"afunix RequestContext".as_ptr(),
    ContextSize: core::mem::size_of::<RequestContext>(),
    UniqueType: &REQUEST_CONTEXT.0,
    EvtDriverGetUniqueContextType: None,
});

/// The context of type `context` of a framework object, if it has one.
fn context<T>(object: WDFOBJECT, context: &ContextType) -> Option<&T> {
    // SAFETY:
    // 1. `object` is a live framework object (a request we own, a file object while its
    //    callbacks run); the type info is a static of ours.
    let raw = unsafe { WdfObjectGetTypedContextWorker(object, context.0.UniqueType) };
    // SAFETY:
    // 1. A non-null result is the context the framework allocated for `context`'s type: zeroed
    //    memory of `ContextSize` = size_of::<T>() bytes, aligned for any type, which lives as
    //    long as the object. T is made of atomics only, for which zero is a valid value.
    unsafe { raw.cast::<T>().as_ref() }
}

/// The socket key of a file object, from its context.
pub fn file_of(file: WDFFILEOBJECT) -> FileId {
    FileId(
        context::<FileContext>(file, &FILE_CONTEXT).map_or(0, |c| c.file.load(Ordering::Acquire))
            as u64,
    )
}

/// Records the socket key of a new file object: its WDM file object's address, as the WDM
/// front end uses.
pub fn set_file(file: WDFFILEOBJECT) -> Option<FileId> {
    // SAFETY:
    // 1. `file` is the file object of the create request being processed.
    let wdm = unsafe { WdfFileObjectWdmGetFileObject(file) };
    let key = wdm as usize;
    let context = context::<FileContext>(file, &FILE_CONTEXT)?;
    context.file.store(key, Ordering::Release);
    (key != 0).then_some(FileId(key as u64))
}

/// What a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
    Control,
}

impl Kind {
    fn encode(self) -> u32 {
        match self {
            Kind::Read => 1,
            Kind::Write => 2,
            Kind::Control => 3,
        }
    }

    fn decode(value: u32) -> Option<Kind> {
        match value {
            1 => Some(Kind::Read),
            2 => Some(Kind::Write),
            3 => Some(Kind::Control),
            _ => None,
        }
    }
}

#[must_use = "a request must be completed exactly once"]
#[derive(Debug)]
pub struct Request {
    handle: WDFREQUEST,
    kind: Kind,
    code: u32,
}

impl Request {
    /// Takes ownership of a request the framework presented.
    ///
    /// # Safety
    /// `handle` is a request the framework handed to one of our callbacks, not yet completed,
    /// and nothing else will complete it.
    pub unsafe fn presented(handle: WDFREQUEST, kind: Kind, code: u32) -> Request {
        if let Some(context) = context::<RequestContext>(handle, &REQUEST_CONTEXT) {
            context.kind.store(kind.encode(), Ordering::Relaxed);
            context.code.store(code, Ordering::Relaxed);
            context.cancelable.store(false, Ordering::Relaxed);
            context.meet.store(false, Ordering::Relaxed);
            context.rendezvous.reset();
        }
        Request { handle, kind, code }
    }

    fn context(&self) -> Option<&RequestContext> {
        context(self.handle, &REQUEST_CONTEXT)
    }

    /// Completes the request with `status` and `information`.
    pub fn complete(self, status: NTSTATUS, information: usize) -> NTSTATUS {
        if let Some(context) = self.context() {
            if context.meet.load(Ordering::Acquire)
                && context
                    .rendezvous
                    .leave_result(status, information)
                    .is_none()
            {
                // The cancel callback has yet to arrive; it completes the request.
                return status;
            }
        }
        // SAFETY:
        // 1. We own the request and complete it once (`self` is consumed); it is not
        //    cancelable (never marked, or unmarked, or its cancel callback has run).
        unsafe { WdfRequestCompleteWithInformation(self.handle, status, information) };
        status
    }

    /// Whether the caller's pages were locked for writing: READ's and METHOD_OUT_DIRECT's.
    fn pages_writable(&self) -> bool {
        match self.kind {
            Kind::Read => true,
            Kind::Write => false,
            Kind::Control => self.code & 3 == METHOD_OUT_DIRECT,
        }
    }

    /// The request's MDL: the output buffer's for READ and direct IOCTLs (whose MDL describes
    /// DeviceIoControl's output buffer), the input's for WRITE. Null when there is none (a
    /// zero-length buffer, for which the framework reports STATUS_BUFFER_TOO_SMALL).
    fn mdl(&self) -> *mut MDL {
        let mut mdl: *mut MDL = core::ptr::null_mut();
        let status = match self.kind {
            // SAFETY:
            // 1. We own the request; `mdl` is a valid out pointer.
            Kind::Write => unsafe { WdfRequestRetrieveInputWdmMdl(self.handle, &mut mdl) },
            // SAFETY:
            // 1. As above.
            Kind::Read | Kind::Control => unsafe {
                WdfRequestRetrieveOutputWdmMdl(self.handle, &mut mdl)
            },
        };
        if status < 0 {
            return core::ptr::null_mut();
        }
        mdl
    }

    /// The system buffer, as the framework returns it for input or output.
    fn system_buffer(&mut self, input: bool) -> Option<&mut [u8]> {
        let mut buffer: *mut c_void = core::ptr::null_mut();
        let mut length = 0usize;
        let status = if input {
            // SAFETY:
            // 1. We own the request; both out pointers are valid.
            unsafe { WdfRequestRetrieveInputBuffer(self.handle, 0, &mut buffer, &mut length) }
        } else {
            // SAFETY:
            // 1. As above.
            unsafe { WdfRequestRetrieveOutputBuffer(self.handle, 0, &mut buffer, &mut length) }
        };
        if status < 0 || buffer.is_null() {
            return None;
        }
        // SAFETY:
        // 1. The framework returned the request's system buffer of `length` bytes, valid until
        //    the request completes; `&mut self` makes this the only view while it lives.
        Some(unsafe { core::slice::from_raw_parts_mut(buffer.cast::<u8>(), length) })
    }

    /// The IOCTL's input, in the system buffer, with a lifetime of the caller's choosing; empty
    /// when there is none.
    ///
    /// # Safety
    /// The slice must not be used once the request has been completed or made pending, nor
    /// while a reply is written into the system buffer.
    pub unsafe fn control_input<'a>(&self, length: usize) -> &'a [u8] {
        if length == 0 {
            return &[];
        }
        let mut buffer: *mut c_void = core::ptr::null_mut();
        let mut got = 0usize;
        // SAFETY:
        // 1. We own the request; both out pointers are valid.
        let status =
            unsafe { WdfRequestRetrieveInputBuffer(self.handle, length, &mut buffer, &mut got) };
        if status < 0 || buffer.is_null() {
            return &[];
        }
        // SAFETY:
        // 1. The system buffer holds the caller's `got` bytes of input until the request
        //    completes; the caller's contract bounds the use.
        unsafe { core::slice::from_raw_parts(buffer.cast::<u8>(), got) }
    }
}

impl FrontRequest for Request {
    /// The WDFREQUEST handle's value.
    fn token(&self) -> Token {
        Token(self.handle as u64)
    }

    /// From the file object's context.
    fn file(&self) -> FileId {
        // SAFETY:
        // 1. We own the request; its file object lives at least as long.
        let file = unsafe { WdfRequestGetFileObject(self.handle) };
        file_of(file)
    }

    fn data_buffer(&mut self) -> Option<DataBuffer> {
        let mdl = self.mdl();
        // SAFETY:
        // 1. `mdl` is null or the request's MDL, locked by the I/O manager, valid until the
        //    request completes.
        let (start, len) = unsafe { map_mdl(mdl) }?;
        Some(DataBuffer {
            start: NonNull::new(start).unwrap_or(NonNull::dangling()),
            len,
            writable: self.pages_writable(),
        })
    }

    fn reply_area(&mut self, area: ReplyArea) -> Option<&mut [u8]> {
        match area {
            ReplyArea::DataHeader => {
                if !self.pages_writable() {
                    return None;
                }
                let data = self.data_buffer()?;
                if data.len == 0 {
                    return Some(&mut []);
                }
                // SAFETY:
                // 1. The mapped MDL's `len` bytes, locked for writing (checked above) until
                //    the request completes, which `&mut self` outlives; nothing else writes
                //    them while we hold the request.
                Some(unsafe { core::slice::from_raw_parts_mut(data.start.as_ptr(), data.len) })
            }
            ReplyArea::Output => self.system_buffer(false),
            ReplyArea::Input => self.system_buffer(true),
        }
    }

    fn complete(self, status: NTSTATUS, information: usize) -> NTSTATUS {
        Request::complete(self, status, information)
    }

    fn hold(self, data: Option<DataBuffer>) -> (Held, bool) {
        let held = Held {
            object: NonNull::new(self.handle).unwrap_or(NonNull::dangling()),
            data,
        };
        // SAFETY:
        // 1. We own the request; `cancel` has EVT_WDF_REQUEST_CANCEL's prototype. The Ex form
        //    never calls it from here: an already cancelled request gives STATUS_CANCELLED.
        let status = unsafe { WdfRequestMarkCancelableEx(self.handle, Some(cancel)) };
        if status == STATUS_CANCELLED {
            return (held, true);
        }
        if let Some(context) = self.context() {
            context.cancelable.store(status >= 0, Ordering::Release);
        }
        (held, false)
    }

    unsafe fn resume(held: Held) -> Request {
        let handle: WDFREQUEST = held.object.as_ptr();
        let found = context::<RequestContext>(handle, &REQUEST_CONTEXT);
        let (kind, code) = found.map_or((Kind::Control, 0), |c| {
            (
                Kind::decode(c.kind.load(Ordering::Relaxed)).unwrap_or(Kind::Control),
                c.code.load(Ordering::Relaxed),
            )
        });
        if let Some(context) = found {
            if context.cancelable.swap(false, Ordering::AcqRel) {
                // SAFETY:
                // 1. The request is ours and was marked cancelable by `hold`.
                let status = unsafe { WdfRequestUnmarkCancelable(handle) };
                if status == STATUS_CANCELLED {
                    context.meet.store(true, Ordering::Release);
                }
            }
        }
        Request { handle, kind, code }
    }
}

/// EVT_WDF_REQUEST_CANCEL for every pending request (CancelIoEx, thread or process exit):
/// the engine cancels the token and `drain` completes what it gives back; then this side
/// checks in at the rendezvous (see the module's comment).
unsafe extern "system" fn cancel(request: WDFREQUEST) {
    sockets::cancel(Token(request as u64));
    sockets::drain::<Request>();
    let Some(context) = context::<RequestContext>(request, &REQUEST_CONTEXT) else {
        return;
    };
    if let Some(outcome) = context.rendezvous.callback_done() {
        // `drain` arrived first and left the result.
        // SAFETY:
        // 1. Both parties have arrived; this is the second, so the request is ours to
        //    complete, once. It is no longer cancelable (its cancel callback is this one).
        unsafe { WdfRequestCompleteWithInformation(request, outcome.status, outcome.information) };
    }
}
