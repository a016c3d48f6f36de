//! AF_UNIX sockets for Windows, shaped like `std::os::unix::net`.
//!
//! A program written for Linux's `std::os::unix::net` moves to Windows by changing its `use`
//! line; nothing else:
//!
//! ```no_run
//! // was: use std::os::unix::net::{UnixListener, UnixStream};
//! use afunix::{UnixListener, UnixStream};
//! use std::io::{BufRead, BufReader, Write};
//!
//! fn main() -> std::io::Result<()> {
//!     let dir = std::env::temp_dir().join("afunix-doc-example");
//!     std::fs::create_dir_all(&dir)?;
//!     let path = dir.join("echo.sock");
//!     let _ = std::fs::remove_file(&path);
//!
//!     let listener = UnixListener::bind(&path)?;
//!     let server = std::thread::spawn(move || -> std::io::Result<()> {
//!         let (stream, _addr) = listener.accept()?;
//!         let mut line = String::new();
//!         BufReader::new(&stream).read_line(&mut line)?;
//!         (&stream).write_all(line.to_uppercase().as_bytes())
//!     });
//!
//!     let mut client = UnixStream::connect(&path)?;
//!     client.write_all(b"hello\n")?;
//!     let mut reply = String::new();
//!     BufReader::new(&client).read_line(&mut reply)?;
//!     assert_eq!(reply, "HELLO\n");
//!     server.join().unwrap()
//! }
//! ```
//!
//! (The same program, unchanged but for that line, is a test of this crate:
//! `tests/port.rs`.)
//!
//! Datagram sockets are [`UnixDatagram`], with std's API; `tests/datagram_parity.rs` runs one
//! program against both and compares what every call returned. Seqpacket sockets, which std
//! lacks, are [`UnixSeqpacketListener`] and [`UnixSeqpacketConn`], named and shaped as the
//! `uds` crate has them (with std's `SocketAddr`). Everything is also under `afunix::net`.
//!
//! Async programs have [`tokio`](crate::tokio): `tokio::net`'s Unix types, named and shaped
//! as tokio's, waiting through the I/O completion port rather than tokio's reactor (which
//! cannot wait on these sockets); `examples/tokio_echo.rs` runs one.
//!
//! On Windows the sockets are the afunixrs driver's handles. Everywhere else there is no
//! driver, and [`Net::system`] is an engine inside the process: sockets reach only the same
//! process's sockets. That is what the tests use; [`Net::in_process`] makes an isolated one.
//!
//! Errors are `std::io::Error`s as std's own sockets report them: WSA codes on Windows, errno
//! values elsewhere, so `kind()` gives `WouldBlock`, `ConnectionRefused` and so on.
//!
//! On Windows, when the driver cannot be reached, every call that opens a socket (bind,
//! connect, pair, accept, ...) fails with an error that says so rather than blaming the socket
//! path: "the afunixrs driver is not running (there is no device `\\.\AfUnixRs`): start it
//! with ...". Its `kind()` is `NetworkDown` when the driver is not running, and it carries a
//! [`DriverUnavailable`].
//!
//! Also here: `afunixctl`'s status report ([`status`]) and, on Windows, device access for
//! the tools (the `sys` module, which exists only on Windows).

mod channel;
mod inproc;
pub mod install;
pub mod net;
pub mod status;
mod unavailable;

#[cfg(windows)]
pub mod sys;

/// Async sockets for tokio: see the module's page.
#[cfg(feature = "tokio")]
pub use net::aio as tokio;

/// Passing handles (SCM_RIGHTS): see [`SocketAncillary`].
#[cfg(windows)]
pub use net::{AncillaryData, AncillaryError, Messages, ScmRights, SocketAncillary};
pub use net::{
    Incoming, Net, PeerCred, RawMessage, RawResult, RawSocket, SocketAddr, UnixDatagram,
    UnixListener, UnixSeqpacketConn, UnixSeqpacketListener, UnixStream,
};

/// The errno type [`RawSocket`] reports, with Linux's names and numbers.
pub use afunix_core::Errno;
/// On Windows, an `io::Error` whose errno has no Winsock code of the same meaning carries
/// one of these (`error.get_ref()`).
pub use channel::ErrnoError;
/// The error inside every `io::Error` returned because the driver could not be reached.
pub use unavailable::DriverUnavailable;

/// The Linux errno an error from this library carries: on Windows from its WSA code or its
/// [`ErrnoError`], elsewhere its OS error number. None for an error that did not come from
/// a socket call.
#[must_use]
pub fn errno_of(error: &std::io::Error) -> Option<Errno> {
    channel::errno_of(error)
}
