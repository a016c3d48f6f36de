//! On Windows, the sockets as handles: `AsHandle`, `AsRawHandle`, `FromRawHandle`,
//! `IntoRawHandle` and the conversions to and from `OwnedHandle`, so that a socket can move
//! between libraries and, with `DuplicateHandle`, between processes.
//!
//! A handle taken in must be one of the driver's sockets, of the type it is taken as
//! (a `UnixStream` from a stream socket's handle, ...): the type is not checked, as std does
//! not check a socket's. Sockets of an in-process [`Net`](super::Net) have no handle: asking
//! one for its handle panics.
//!
//! The async sockets (`afunix::tokio`) lend their handles (`AsHandle`, `AsRawHandle`), as
//! tokio's do; they are made from and turned back into the blocking types.

use std::os::windows::io::{
    AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, IntoRawHandle, OwnedHandle, RawHandle,
};
use std::sync::Arc;

use super::{
    Net, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM, Socket, UnixDatagram, UnixListener,
    UnixSeqpacketConn, UnixSeqpacketListener, UnixStream,
};

const NO_HANDLE: &str = "a socket of an in-process Net has no Windows handle";

impl Socket {
    /// A socket of type `ty` on the driver's handle `handle`.
    fn from_handle(handle: OwnedHandle, ty: u32) -> Socket {
        Socket {
            net: Net::system(),
            endpoint: Arc::new(crate::sys::DriverHandle::new(handle)),
            timeouts: Arc::default(),
            ty,
        }
    }

    fn borrow_handle(&self) -> BorrowedHandle<'_> {
        self.endpoint.borrow_handle().expect(NO_HANDLE)
    }

    fn into_owned_handle(self) -> OwnedHandle {
        self.endpoint.into_owned_handle().expect(NO_HANDLE)
    }
}

macro_rules! handle_conversions {
    ($($ty:ident: $sock_type:expr),* $(,)?) => {$(
        impl AsHandle for $ty {
            fn as_handle(&self) -> BorrowedHandle<'_> {
                self.socket.borrow_handle()
            }
        }

        impl AsRawHandle for $ty {
            fn as_raw_handle(&self) -> RawHandle {
                self.socket.borrow_handle().as_raw_handle()
            }
        }

        impl From<$ty> for OwnedHandle {
            fn from(socket: $ty) -> OwnedHandle {
                socket.socket.into_owned_handle()
            }
        }

        impl IntoRawHandle for $ty {
            fn into_raw_handle(self) -> RawHandle {
                OwnedHandle::from(self).into_raw_handle()
            }
        }

        impl From<OwnedHandle> for $ty {
            fn from(handle: OwnedHandle) -> $ty {
                $ty::from_socket(Socket::from_handle(handle, $sock_type))
            }
        }

        impl FromRawHandle for $ty {
            /// # Safety
            ///
            /// `handle` is an open handle of the driver's socket, owned by the caller and
            /// given up to the new value.
            unsafe fn from_raw_handle(handle: RawHandle) -> $ty {
                // SAFETY:
                // 1. The caller's contract: an open handle it owns and gives up.
                $ty::from(unsafe { OwnedHandle::from_raw_handle(handle) })
            }
        }
    )*};
}

handle_conversions!(
    UnixStream: SOCK_STREAM,
    UnixListener: SOCK_STREAM,
    UnixDatagram: SOCK_DGRAM,
    UnixSeqpacketConn: SOCK_SEQPACKET,
    UnixSeqpacketListener: SOCK_SEQPACKET,
);

#[cfg(feature = "tokio")]
macro_rules! async_handles {
    ($($ty:ty),* $(,)?) => {$(
        impl AsHandle for $ty {
            fn as_handle(&self) -> BorrowedHandle<'_> {
                self.socket().borrow_handle()
            }
        }

        impl AsRawHandle for $ty {
            fn as_raw_handle(&self) -> RawHandle {
                self.socket().borrow_handle().as_raw_handle()
            }
        }
    )*};
}

#[cfg(feature = "tokio")]
async_handles!(
    super::aio::UnixStream,
    super::aio::UnixListener,
    super::aio::UnixDatagram,
    super::aio::UnixSeqpacket,
    super::aio::UnixSeqpacketListener,
);
