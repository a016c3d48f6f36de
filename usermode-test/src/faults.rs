//! Helpers for the checks that run while the driver refuses allocations on purpose (its
//! low-resources mode, `Parameters\FailAllocations`) or meets its limits: which errors such a
//! refusal may give, retrying a call it refused, making sockets until refused, and the end
//! state every such check must reach (STATS at zero).

use std::io;
use std::time::{Duration, Instant};

use afunix::Errno;

/// Whether `e` is what a request refused for want of memory gives: ENOBUFS or ENOMEM.
pub fn refused(e: &io::Error) -> bool {
    matches!(afunix::errno_of(e), Some(Errno::ENOBUFS | Errno::ENOMEM))
}

/// Runs `call` until it does not fail for want of memory (at most 10,000 tries); counts the
/// refusals in `count`. Any other error is returned.
pub fn retry<T>(count: &mut u64, mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries = 0u32;
    loop {
        match call() {
            Err(e) if refused(&e) && tries < 10_000 => {
                *count += 1;
                tries += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

/// The driver's STATS; asked again when the driver cannot open the handle that asks.
#[cfg(windows)]
pub fn stats() -> Result<afunix_proto::DriverStats, String> {
    let mut last = String::new();
    for _ in 0..100 {
        match afunix::sys::device::Device::open().and_then(|d| d.stats()) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("STATS: {last}"))
}

/// Makes sockets until the driver refuses one: the sockets and the refusal. An error if it
/// makes more than `most`.
#[cfg(windows)]
pub fn sockets_until_refused(
    net: &afunix::Net,
    most: usize,
) -> Result<(Vec<afunix::RawSocket>, io::Error), String> {
    let mut sockets = Vec::with_capacity(most);
    loop {
        match net.socket() {
            Ok(s) if sockets.len() < most => sockets.push(s),
            Ok(_) => return Err(format!("more than {most} sockets were made")),
            Err(e) => return Ok((sockets, e)),
        }
    }
}

/// Waits until the driver holds no socket, no pending IRP and no buffered byte, or fails
/// after 10 s.
#[cfg(windows)]
pub fn expect_empty(what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = stats()?;
        if s.sockets == 0 && s.pending_irps == 0 && s.bytes_buffered == 0 {
            println!("{what}: STATS back to 0 sockets, 0 pending IRPs, 0 bytes buffered");
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{what}: STATS still shows {} sockets, {} pending IRPs, {} bytes buffered",
                s.sockets, s.pending_irps, s.bytes_buffered
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(not(windows))]
pub fn expect_empty(_what: &str) -> Result<(), String> {
    let _ = Instant::now();
    Err("the driver's STATS need the Windows build".into())
}
