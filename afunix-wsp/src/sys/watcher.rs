//! The `WSAEventSelect` watcher: one thread per process that keeps a POLL waiting in the
//! driver for every event-selected socket's next network event, records what happens and
//! signals the program's event object.
//!
//! A change to what is watched (a new selection, a re-enabling call, a close) wakes the
//! thread, which cancels its POLL and issues a new one. `winsock::NetEvents` decides what to
//! wait for and what to record.

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use afunix::sys::Data;
use afunix_proto::encode;
use afunix_proto::ioctl::{IOCTL_AFUNIX_FIONREAD, IOCTL_AFUNIX_POLL};
use afunix_proto::wire::{IntOut, POLL_MAX_ENTRIES, revents};
use windows_sys::Wdk::System::IO::NtDeviceIoControlFile;
use windows_sys::Win32::Foundation::{HANDLE, STATUS_PENDING, WAIT_OBJECT_0};
use windows_sys::Win32::System::IO::{
    CancelIoEx, GetOverlappedResult, IO_STATUS_BLOCK, OVERLAPPED,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, INFINITE, SetEvent, WaitForMultipleObjects, WaitForSingleObject,
};
use zerocopy::{FromBytes, IntoBytes};

use super::table;
use crate::winsock::WSAENOBUFS;

struct Watcher {
    thread: JoinHandle<()>,
    wake: OwnedHandle,
    /// This thread's own stop flag: a watcher started after a stop never shares it.
    stop: Arc<AtomicBool>,
}

static WATCHER: Mutex<Option<Watcher>> = Mutex::new(None);

fn event(manual_reset: bool) -> Result<OwnedHandle, i32> {
    // SAFETY:
    // 1. Null attributes and name: an anonymous event.
    let h = unsafe { CreateEventW(ptr::null(), i32::from(manual_reset), 0, ptr::null()) };
    if h.is_null() {
        return Err(WSAENOBUFS);
    }
    // SAFETY:
    // 1. A fresh handle nothing else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(h) })
}

/// Starts the watcher if it is not running.
pub(crate) fn ensure_running() -> Result<(), i32> {
    let mut guard = WATCHER.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_some() {
        return Ok(());
    }
    let wake = event(false)?;
    let device = afunix::sys::open_handle().map_err(|e| super::spi::device_error(&e))?;
    let poll_done = event(true)?;
    let wake_raw = wake.as_raw_handle() as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("afunixwsp event-select".into())
        .spawn(move || run(&device, &poll_done, wake_raw as HANDLE, &stop_flag))
        .map_err(|_| WSAENOBUFS)?;
    *guard = Some(Watcher { thread, wake, stop });
    Ok(())
}

/// Tells the watcher that what it watches has changed.
pub(crate) fn wake() {
    if let Some(w) = WATCHER.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        // SAFETY:
        // 1. The watcher's own wake event, open while it is in WATCHER.
        unsafe { SetEvent(w.wake.as_raw_handle() as HANDLE) };
    }
}

/// Stops the watcher and waits for its thread to end.
pub(crate) fn stop() {
    let taken = WATCHER.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(w) = taken {
        w.stop.store(true, Ordering::SeqCst);
        // SAFETY:
        // 1. The watcher's wake event, still open (dropped after the join).
        unsafe { SetEvent(w.wake.as_raw_handle() as HANDLE) };
        let _ = w.thread.join();
    }
}

/// FIONREAD on socket `s`: whether bytes wait to be read.
fn has_data(s: usize) -> bool {
    let mut out = [0u8; size_of::<IntOut>()];
    afunix::sys::ioctl(
        super::borrowed(&s),
        IOCTL_AFUNIX_FIONREAD,
        encode::empty().as_bytes(),
        Data::Out(&mut out),
        None,
    )
    .ok()
    .and_then(|_| IntOut::read_from_bytes(&out).ok())
    .is_some_and(|o| o.value > 0)
}

/// What to wait for: the (socket, Linux events) of every socket with something to wait for
/// (the first POLL_MAX_ENTRIES of them), and each one's generation.
fn wanted() -> (Vec<(u64, u32)>, Vec<u64>) {
    table::lock()
        .iter()
        .filter_map(|(&s, sock)| {
            let wanted = sock.events.as_ref()?.wanted(sock.role);
            (wanted != 0).then_some(((s as u64, wanted), sock.generation))
        })
        .take(POLL_MAX_ENTRIES)
        .unzip()
}

/// Records what a completed POLL reported and signals the event objects.
fn record(entries: &[(u64, u32)], generations: &[u64], reply: &[u8]) {
    let mut sockets = table::lock();
    for ((&(s, _), &generation), revents) in entries.iter().zip(generations).zip(revents(reply)) {
        if revents == 0 {
            continue;
        }
        let Ok(s) = usize::try_from(s) else { continue };
        let Some(sock) = sockets
            .get_mut(&s)
            .filter(|sock| sock.generation == generation)
        else {
            // Closed while the POLL waited, perhaps with its handle value reused since.
            continue;
        };
        let role = sock.role;
        let Some(events) = sock.events.as_mut() else {
            continue;
        };
        if events.on_revents(revents, role, || has_data(s)) {
            // SAFETY:
            // 1. The program's event object, given to WSAEventSelect; signalling a handle
            //    that is no longer an event fails harmlessly.
            unsafe { SetEvent(events.event as HANDLE) };
        }
    }
}

fn run(device: &OwnedHandle, poll_done: &OwnedHandle, wake: HANDLE, stop: &AtomicBool) {
    let device = device.as_raw_handle() as HANDLE;
    let done = poll_done.as_raw_handle() as HANDLE;
    while !stop.load(Ordering::SeqCst) {
        let (entries, generations) = wanted();
        if entries.is_empty() {
            // SAFETY:
            // 1. Waits on our own wake event, open for the thread's life.
            unsafe { WaitForSingleObject(wake, INFINITE) };
            continue;
        }
        let Ok(input) = encode::poll(&entries, -1) else {
            // Out of memory: wait for a change, or a while, and try again.
            // SAFETY:
            // 1. Waits on our own wake event, open for the thread's life.
            unsafe { WaitForSingleObject(wake, 100) };
            continue;
        };
        let mut reply = vec![0u8; input.len()];
        // SAFETY:
        // 1. OVERLAPPED is plain data; all-zero is its initial state.
        let mut overlapped: OVERLAPPED = unsafe { std::mem::zeroed() };
        overlapped.Internal = STATUS_PENDING as usize;
        // GetOverlappedResult below waits on this event (on the file handle without one).
        overlapped.hEvent = done;
        let io_status = ptr::from_mut(&mut overlapped).cast::<IO_STATUS_BLOCK>();
        // SAFETY:
        // 1. Our device handle (overlapped); `input`, `reply` and `overlapped` live on this
        //    frame until the request has completed: every path below waits for it.
        let status = unsafe {
            NtDeviceIoControlFile(
                device,
                done,
                None,
                ptr::null(),
                io_status,
                IOCTL_AFUNIX_POLL,
                input.as_ptr().cast(),
                u32::try_from(input.len()).unwrap_or(0),
                reply.as_mut_ptr().cast(),
                u32::try_from(reply.len()).unwrap_or(0),
            )
        };
        if status < 0 {
            // Out of memory or POLL slots in the driver: wait for a change and try again.
            // SAFETY:
            // 1. As above.
            unsafe { WaitForSingleObject(wake, 100) };
            continue;
        }
        if status == STATUS_PENDING {
            let handles = [done, wake];
            // SAFETY:
            // 1. Two valid event handles, as the count says.
            let which = unsafe { WaitForMultipleObjects(2, handles.as_ptr(), 0, INFINITE) };
            if which != WAIT_OBJECT_0 {
                // Woken: the POLL is out of date. Cancel it and wait for it to end.
                // SAFETY:
                // 1. Cancels only this request on our own handle.
                unsafe { CancelIoEx(device, &overlapped) };
            }
            let mut transferred = 0;
            // SAFETY:
            // 1. Waits for this request, cancelled or not, to complete.
            unsafe { GetOverlappedResult(device, &overlapped, &mut transferred, 1) };
        }
        // SAFETY:
        // 1. The request has completed: the status block is final.
        let final_status = unsafe { ptr::read_volatile(&raw const overlapped.Internal) } as i32;
        if final_status >= 0 {
            record(&entries, &generations, &reply);
        }
    }
}
