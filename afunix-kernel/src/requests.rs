//! What every front end does with a request once its framework has handed it over: CREATE,
//! CLOSE, READ, WRITE and DEVICE_CONTROL routed to the socket layer, STATS answered, unknown
//! requests refused and logged within a rate limit; and the driver's load and unload around
//! the device's creation.

use core::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use afunix_core::Errno;
use afunix_device::FileId;
use afunix_proto::decode::{DecodeError, MsgFlags, Request as Decoded, decode};
use afunix_proto::{DriverStats, DriverVersion};
use windows_sys::Win32::Foundation::{
    NTSTATUS, STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_DEVICE_REQUEST, STATUS_SUCCESS,
    UNICODE_STRING,
};
use zerocopy::IntoBytes;

use afunix_device::ratelimit::{ONE_SECOND_IN_100NS, RateLimit, Verdict};
use afunix_ntos::KeQuerySystemTime;

use crate::caller;
use crate::debug::{self, kprint};
use crate::front::{FrontRequest, ReplyArea, failed};
use crate::pool;
use crate::settings;
use crate::sockets;

/// This driver's version, from the workspace's manifest (both front ends share it).
pub const VERSION: DriverVersion = DriverVersion::from_parts(
    env!("CARGO_PKG_VERSION_MAJOR"),
    env!("CARGO_PKG_VERSION_MINOR"),
    env!("CARGO_PKG_VERSION_PATCH"),
);

/// The front end serving the device ([`afunix_proto::FRONT_END_WDM`] or
/// [`afunix_proto::FRONT_END_KMDF`]), set at load; STATS reports it.
static FRONT_END: AtomicU16 = AtomicU16::new(afunix_proto::FRONT_END_WDM);

/// File objects open on the device: counted up at CREATE and down at CLOSE.
static OPEN_HANDLES: AtomicU64 = AtomicU64::new(0);


/// What both front ends do first at load, before creating their device: the pool, the
/// registry's settings, the engine. `front_end` says which front end is loading
/// ([`afunix_proto::FRONT_END_WDM`], [`afunix_proto::FRONT_END_KMDF`]), for the log and STATS.
///
/// # Safety
/// `registry_path` is null or the counted string DriverEntry was given, and this is called
/// from DriverEntry.
pub unsafe fn load(registry_path: *const UNICODE_STRING, front_end: u16) {
    FRONT_END.store(front_end, Ordering::Relaxed);
    pool::init();
    kprint!(
        "loading {} ({}; ExAllocatePool2: {})",
        VERSION,
        VERSION.of_front_end(front_end).framework(),
        if pool::has_allocate_pool2() {
            "yes"
        } else {
            "no, using ExAllocatePoolWithTag"
        }
    );

    // SAFETY:
    // 1. Our own contract, passed on: DriverEntry's registry path, read before it returns.
    let settings = unsafe { settings::read(registry_path) };
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
}

/// What both front ends do last at unload (or when load fails after [`load`]): the engine
/// goes, and the low-resources mode's count is logged.
pub fn unload() {
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

/// Unknown IOCTLs and unsupported major functions are logged, since they point at a client
/// built against another protocol; but anyone who may open the device can send them, so at
/// most this many lines a second, then one line saying how many were left out.
const UNKNOWN_LINES_PER_SECOND: u32 = 5;
static UNKNOWN_REQUESTS: RateLimit = RateLimit::new(UNKNOWN_LINES_PER_SECOND, ONE_SECOND_IN_100NS);

/// Logs one unknown request, within [`UNKNOWN_REQUESTS`]'s limit.
///
/// The clock is the system time (100 ns units), not `KeQueryInterruptTime`: Wine 8's
/// `KeQueryInterruptTime` returns its tick count in milliseconds, so a second in 100 ns units
/// would last hours there. A system time set back or forward only starts a new interval.
pub fn log_unknown(line: core::fmt::Arguments<'_>) {
    let mut now = 0i64;
    // SAFETY:
    // 1. `now` is a valid out pointer; KeQuerySystemTime is callable at any IRQL.
    unsafe { KeQuerySystemTime(&mut now) };
    if let Verdict::Print { suppressed } = UNKNOWN_REQUESTS.check(now.unsigned_abs()) {
        if suppressed != 0 {
            kprint!(
                "{} more unknown requests were not logged (at most {} lines a second)",
                suppressed,
                UNKNOWN_LINES_PER_SECOND
            );
        }
        debug::print(line);
    }
}

/// CREATE: a new, unconfigured socket on `file`; the status to complete the create with.
pub fn create(file: FileId) -> NTSTATUS {
    match sockets::open(file) {
        Ok(()) => {
            OPEN_HANDLES.fetch_add(1, Ordering::Relaxed);
            STATUS_SUCCESS
        }
        Err(e) => failed(e),
    }
}

/// CLEANUP (the last user handle closed; Windows sends it, Wine never does): the socket is
/// torn down, completing its pending requests, as the I/O manager requires; CLOSE then finds
/// nothing left to do.
pub fn cleanup<R: FrontRequest>(file: FileId) {
    sockets::close::<R>(file);
}

/// CLOSE: the socket goes if CLEANUP did not take it, and the file is no longer counted.
pub fn close<R: FrontRequest>(file: FileId) {
    sockets::close::<R>(file);
    // CLOSE comes once per successful CREATE, so this never goes below zero; saturate anyway
    // rather than wrap if a kernel ever sent one too many.
    let _ = OPEN_HANDLES.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

/// READ and WRITE: RECV and SEND without flags, on the caller's pages (direct I/O).
pub fn read_write<R: FrontRequest>(request: R, read: bool) -> NTSTATUS {
    let flags = MsgFlags(0);
    let decoded = if read {
        Decoded::Recv { flags, from: false }
    } else {
        Decoded::Send { flags, to: None }
    };
    sockets::execute(request, decoded)
}

/// DEVICE_CONTROL: `code` with its `input` (the system buffer's InputBufferLength bytes) and
/// the length of its output buffer, decoded and executed; or STATS answered here.
///
/// `input` must stay valid until the request is completed or pending, and must not be used
/// while a reply is written into the system buffer: the decoded request borrows it only
/// until then (`sockets::execute` resolves and executes it first).
pub fn device_control<R: FrontRequest>(
    request: R,
    code: u32,
    input: &[u8],
    output_len: usize,
) -> NTSTATUS {
    match decode_control(request, code, input, output_len) {
        Ok((request, decoded)) => sockets::execute(request, decoded),
        Err(status) => status,
    }
}

/// What [`device_control_staged`] did with a request. (Returned once per request and moved
/// straight into the request's context, so its size costs one copy, not a heap allocation
/// that could fail.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Control<'a, R> {
    /// Completed (the status it was completed with).
    Done(NTSTATUS),
    /// Resolved in the caller's context, to be executed from a queue with
    /// [`sockets::run`], or given up with [`sockets::Staged::abandon`].
    Staged(R, sockets::Staged<'a>),
}

/// DEVICE_CONTROL in two steps, for a front end whose pending requests must first pass
/// through a queue to be cancelable (KMDF): a request that may wait in the engine
/// ([`afunix_device::path::may_pend`]) is only resolved here, in the caller's context; every other one is done at
/// once, as [`device_control`] does. `input` as for [`device_control`], until the staged
/// request has run or been abandoned.
pub fn device_control_staged<'a, R: FrontRequest>(
    request: R,
    code: u32,
    input: &'a [u8],
    output_len: usize,
) -> Control<'a, R> {
    match decode_control(request, code, input, output_len) {
        Err(status) => Control::Done(status),
        Ok((request, decoded)) if !afunix_device::path::may_pend(&decoded) => {
            Control::Done(sockets::execute(request, decoded))
        }
        Ok((mut request, decoded)) => match sockets::stage_for_queue(&mut request, decoded) {
            Ok(staged) => Control::Staged(request, staged),
            Err(e) => Control::Done(request.complete(failed(e), 0)),
        },
    }
}

/// Decodes a DEVICE_CONTROL: the request and what it asks, or the status it was completed
/// with (STATS answered, unknown or malformed requests refused).
fn decode_control<'a, R: FrontRequest>(
    request: R,
    code: u32,
    input: &'a [u8],
    output_len: usize,
) -> Result<(R, Decoded<'a>), NTSTATUS> {
    match decode(code, input, output_len) {
        Ok(Decoded::Stats) => Err(stats(request)),
        Ok(decoded) => Ok((request, decoded)),
        Err(DecodeError::UnknownIoctl(code)) => {
            log_unknown(format_args!("unknown IOCTL {:#010x}", code));
            Err(request.complete(STATUS_INVALID_DEVICE_REQUEST, 0))
        }
        Err(DecodeError::OutputTooSmall) if code == afunix_proto::IOCTL_AFUNIX_STATS => {
            Err(request.complete(STATUS_BUFFER_TOO_SMALL, 0))
        }
        Err(e) => Err(request.complete(
            failed(Errno::from_number(e.errno()).unwrap_or(Errno::EINVAL)),
            0,
        )),
    }
}

/// IOCTL_AFUNIX_STATS (METHOD_BUFFERED): writes a [`DriverStats`] to the output buffer. The
/// counters show everyone's traffic, so only an administrator may read them
/// ([`caller::may_read_stats`]); anyone else gets EACCES.
fn stats<R: FrontRequest>(mut request: R) -> NTSTATUS {
    if !caller::may_read_stats() {
        return request.complete(failed(Errno::EACCES), 0);
    }
    let reply = DriverStats::new(
        VERSION.of_front_end(FRONT_END.load(Ordering::Relaxed)),
        OPEN_HANDLES.load(Ordering::Relaxed),
        pool::bytes_in_use(),
        sockets::counters(),
    );
    let bytes = reply.as_bytes();
    let written = request.reply_area(ReplyArea::Output).and_then(|buffer| {
        buffer.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(bytes.len())
    });
    match written {
        Some(n) => request.complete(STATUS_SUCCESS, n),
        None => request.complete(STATUS_BUFFER_TOO_SMALL, 0),
    }
}
