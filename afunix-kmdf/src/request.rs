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

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use afunix_core::Token;
use afunix_device::FileId;
use afunix_device::rendezvous::Rendezvous;
use afunix_kernel::debug::kprint;
use afunix_kernel::front::{DataBuffer, FrontRequest, Held, ReplyArea};
use afunix_kernel::sockets::{self, Staged};
use afunix_proto::ioctl::METHOD_OUT_DIRECT;
use windows_sys::Wdk::Foundation::MDL;
use windows_sys::Win32::Foundation::{NTSTATUS, STATUS_BUFFER_TOO_SMALL, STATUS_CANCELLED};

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
/// the request path's resolution carried from the caller's context to the queue, and the
/// cancellation rendezvous.
#[repr(C)]
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
    /// `staged` holds a value (see [`Request::stash`]).
    has_staged: AtomicBool,
    /// A device control resolved in `EvtIoInCallerContext`, until the queue presents it.
    /// Written only while the request is ours and `has_staged` is false; taken by whoever
    /// swaps `has_staged` from true.
    staged: UnsafeCell<MaybeUninit<Staged<'static>>>,
}

impl core::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RequestContext")
            .field("kind", &self.kind)
            .field("code", &self.code)
            .field("cancelable", &self.cancelable)
            .field("meet", &self.meet)
            .field("has_staged", &self.has_staged)
            .finish_non_exhaustive()
    }
}

// KMDF aligns object contexts to MEMORY_ALLOCATION_ALIGNMENT (16 on x64).
static_assertions::const_assert!(core::mem::align_of::<RequestContext>() <= 16);

impl RequestContext {
    /// Takes the staged resolution out, if there is one, exactly once.
    fn take_staged(&self) -> Option<Staged<'static>> {
        if !self.has_staged.swap(false, Ordering::AcqRel) {
            return None;
        }
        let slot = self.staged.get().cast::<Staged<'static>>();
        // SAFETY:
        // 1. `has_staged` was true and this call swapped it to false, so the slot (a
        //    `MaybeUninit`, laid out as its value) holds a value that `stash` wrote and
        //    nothing else takes; reading moves it out.
        Some(unsafe { slot.read() })
    }
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
    //    long as the object. Every T here is valid zeroed: atomics, and (RequestContext) a
    //    `MaybeUninit` slot.
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
            // A request is never presented twice with a resolution left in it (`queued` takes
            // it; cancellation and the context cleanup abandon it), but should one be, give
            // it up rather than leak it.
            if let Some(left) = context.take_staged() {
                left.abandon();
            }
        }
        Request { handle, kind, code }
    }

    /// Takes ownership of a device control the queue presents, which `EvtIoInCallerContext`
    /// [`stash`](Request::stash)ed: the request and its resolution.
    ///
    /// # Safety
    /// As for [`Request::presented`].
    pub unsafe fn queued(handle: WDFREQUEST, code: u32) -> (Request, Option<Staged<'static>>) {
        let request = Request {
            handle,
            kind: Kind::Control,
            code,
        };
        let staged = request.context().and_then(RequestContext::take_staged);
        (request, staged)
    }

    /// Takes ownership of a request the framework cancelled while it was queued, its context
    /// left as it was (a device control's resolution still in it, for [`Request::give_up`]).
    ///
    /// # Safety
    /// As for [`Request::presented`].
    pub unsafe fn presented_cancelled(handle: WDFREQUEST) -> Request {
        Request {
            handle,
            kind: Kind::Control,
            code: 0,
        }
    }

    /// The handle, for the framework calls the front end makes itself.
    pub fn handle(&self) -> WDFREQUEST {
        self.handle
    }

    /// Keeps a resolution in the request's context until the queue presents it. False if the
    /// request has no context (or, impossibly, holds one already): the resolution is then
    /// abandoned.
    pub fn stash(&self, staged: Staged<'static>) -> bool {
        let Some(context) = self.context() else {
            staged.abandon();
            return false;
        };
        if context.has_staged.load(Ordering::Acquire) {
            staged.abandon();
            return false;
        }
        // SAFETY:
        // 1. The request is ours and `has_staged` is false, so nothing else reads or writes
        //    the slot; the value is published by the store below.
        unsafe { (*context.staged.get()).write(staged) };
        context.has_staged.store(true, Ordering::Release);
        true
    }

    /// Gives up a request that will not run (cancelled while queued, or not queued): its
    /// resolution, if any, abandoned, and the request completed with `status`.
    pub fn give_up(self, status: NTSTATUS) -> NTSTATUS {
        if let Some(staged) = self.context().and_then(RequestContext::take_staged) {
            staged.abandon();
        }
        self.complete(status, 0)
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
    /// zero-length buffer, for which the framework reports STATUS_BUFFER_TOO_SMALL); None on
    /// any other failure.
    fn mdl(&self) -> Option<*mut MDL> {
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
        if status == STATUS_BUFFER_TOO_SMALL {
            return Some(core::ptr::null_mut());
        }
        (status >= 0).then_some(mdl)
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
        let mdl = self.mdl()?;
        // SAFETY:
        // 1. `mdl` is null or the request's MDL, locked by the I/O manager, valid until the
        //    request completes.
        unsafe { DataBuffer::of_mdl(mdl, self.pages_writable()) }
    }

    fn reply_area(&mut self, area: ReplyArea) -> Option<&mut [u8]> {
        match area {
            ReplyArea::DataHeader => {
                let data = self.data_buffer()?;
                // SAFETY:
                // 1. The slice lives no longer than `&mut self`: we own the request, and
                //    nothing else writes its pages meanwhile.
                unsafe { data.writable_slice() }
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
        if status < 0 {
            // STATUS_CANCELLED: cancelled already. Any other failure (a request that did not
            // come from a queue, which only a `may_pend` mistake would let through) is
            // treated alike, so that no request waits where nothing can cancel it: the
            // caller cancels it in the engine, which completes it at once. Said in the log,
            // since the program did not ask for that cancel.
            if status != STATUS_CANCELLED {
                kprint!(
                    "WdfRequestMarkCancelableEx failed ({:#010x}): request cancelled",
                    status
                );
            }
            return (held, true);
        }
        if let Some(context) = self.context() {
            context.cancelable.store(true, Ordering::Release);
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

/// EVT_WDF_OBJECT_CONTEXT_CLEANUP for every request: a resolution still in the context when
/// the request goes (completed by the framework without reaching us) is abandoned, not
/// leaked. At IRQL <= DISPATCH_LEVEL, which abandoning a staged request allows
/// (`Staged::abandon`).
pub unsafe extern "system" fn request_cleanup(object: WDFOBJECT) {
    if let Some(staged) =
        context::<RequestContext>(object, &REQUEST_CONTEXT).and_then(RequestContext::take_staged)
    {
        staged.abandon();
    }
}
