//! `afunixwsp.dll`: the Winsock base service provider for afunix-rs sockets.
//!
//! Programs that only know Winsock (`socket(AF_UNIX, SOCK_STREAM, 0)`, and `SOCK_DGRAM` or
//! `SOCK_SEQPACKET`, `bind`, `connect`, `sendto`,
//! `WSARecv` with overlapped I/O, `select`, `WSAPoll`, `WSAEventSelect` ...) reach the
//! afunixrs driver through this DLL once `afunixctl install` has put it in the Winsock
//! catalog. Its sockets are the driver's file handles, made IFS handles with
//! `WPUModifyIFSHandle`, so ReadFile, WriteFile, IOCP and CancelIoEx work on them directly.
//!
//! What it adds to the driver is Winsock's shape: WSA error codes (`ErrnoCodes::to_wsa`),
//! Winsock's option and flag numbers, `select` sets, `WSAPoll` bits, and the network events
//! of `WSAEventSelect`, which a watcher thread derives from the driver's POLL.
//!
//! Where Winsock and Linux differ, this provider follows Winsock for what Winsock defines
//! (an accepted socket inherits the listener's non-blocking mode and event selection;
//! `getsockname` into a buffer too small is WSAEFAULT) and Linux for AF_UNIX itself
//! (addresses, end of file, resets, buffer sizes). Known gaps are listed in the README.
//!
//! [`winsock`] is the portable part, tested on any host; the SPI itself is Windows-only.

pub mod winsock;

#[cfg(windows)]
mod sys;
