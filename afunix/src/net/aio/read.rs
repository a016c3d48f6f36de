//! How a stream's reads wait: with a RECV of its own, pending in the driver until bytes
//! come, rather than a POLL.
//!
//! Why: a waiting RECV costs the driver nothing until bytes arrive for it, which is when the
//! engine completes it; a waiting POLL is looked at again after every request the driver
//! serves, so a server with a thousand idle connections would pay a thousand checks on every
//! request (`bench-async` measures both). Readers waiting on idle connections are the common
//! case of an async server, so reads wait this way; writes, accepts and datagrams, which wait
//! only while there is work in flight, wait by POLL.
//!
//! The RECV belongs to the stream, not to the task that started it: the bytes it brings are
//! kept here and given to the next read, in order, before anything is read from the socket
//! again. So a read future dropped while it waits loses nothing, and the RECV is left for the
//! next read (one per stream at most; cancelled when the stream is dropped).

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use afunix_core::Errno;
use afunix_proto::encode;
use afunix_proto::ioctl::IOCTL_AFUNIX_RECV;
use afunix_proto::wire::MSG_DONTWAIT;
use zerocopy::IntoBytes;

use crate::channel::{InFlight, Reply, io_error};
use crate::net::Socket;

/// The room of a waiting RECV. It brings the first bytes that arrive; reads that follow take
/// the rest straight into their own buffers. Small, since a waiting RECV's room counts
/// against the driver's cap on locked request buffers for as long as it waits.
const WAIT_BYTES: usize = 4096;

#[derive(Debug)]
pub(super) struct Reader(Mutex<ReadState>);

#[derive(Debug, Default)]
struct ReadState {
    /// The RECV waiting for bytes, or completed and not yet looked at.
    wait: Option<Arc<dyn InFlight>>,
    /// Bytes a RECV brought that no read has taken yet, from `pos`.
    data: Vec<u8>,
    pos: usize,
    /// The end of the stream (Ok) or an error that a RECV met, not yet reported.
    outcome: Option<Result<(), Errno>>,
    /// Taken to be readable, as tokio keeps readiness: a stream `accept` returned starts so
    /// (tokio's do), and so does one whose read got bytes or whose wait completed; a read
    /// that found nothing clears it. `readable()` returns at once while it holds.
    known_readable: bool,
    /// The last read had to wait, and its wait did not come back full: the next is likely to
    /// wait too, so it starts with its RECV rather than first trying the socket without
    /// waiting (a request saved per read when a peer answers one request at a time; a RECV
    /// finds bytes already there at once).
    waits: bool,
}

impl ReadState {
    /// What a completed RECV brought.
    fn absorb(&mut self, reply: Reply) {
        match reply {
            Ok((0, _)) => self.outcome = Some(Ok(())),
            Ok((n, mut bytes)) => {
                // Full: more may be queued behind it, for reads that do not wait.
                self.waits = n < bytes.len();
                bytes.truncate(n);
                self.data = bytes;
                self.pos = 0;
            }
            // Cancelled with nothing received: nothing to keep.
            Err(Errno::ECANCELED) => {}
            Err(e) => self.outcome = Some(Err(e)),
        }
    }

    /// Takes the completed RECV's outcome, if it has completed.
    fn settle(&mut self) {
        if self.wait.as_ref().is_some_and(|w| w.is_done()) {
            if let Some(wait) = self.wait.take() {
                if let Poll::Ready(reply) = wait.poll_reply(&mut Context::from_waker(Waker::noop()))
                {
                    self.absorb(reply);
                }
            }
        }
    }

    /// What the next read gets from here, if anything: kept bytes, then the end of the
    /// stream or an error.
    fn deliver(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let kept = self.data.get(self.pos..).unwrap_or_default();
        if !kept.is_empty() {
            let n = kept.len().min(buf.len());
            buf.get_mut(..n)?.copy_from_slice(kept.get(..n)?);
            self.pos += n;
            if self.pos == self.data.len() {
                self.data = Vec::new();
                self.pos = 0;
            }
            return Some(Ok(n));
        }
        self.outcome.take().map(|o| o.map(|()| 0).map_err(io_error))
    }
}

/// A RECV for `socket` (in blocking mode, so it waits), issued without waiting.
fn start_wait(socket: &Socket) -> io::Result<Arc<dyn InFlight>> {
    socket
        .endpoint
        .submit(
            IOCTL_AFUNIX_RECV,
            encode::data(0).as_bytes(),
            vec![0; WAIT_BYTES],
        )
        .map_err(io_error)
}

impl Reader {
    /// A stream's reader; `readable`: the stream is taken to be readable until a read finds
    /// nothing (an accepted stream).
    pub(super) fn new(readable: bool) -> Reader {
        Reader(Mutex::new(ReadState {
            known_readable: readable,
            ..ReadState::default()
        }))
    }

    fn lock(&self) -> MutexGuard<'_, ReadState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A read into `buf`: kept bytes first, else what the socket has now, else it waits.
    pub(super) fn poll_read(
        &self,
        socket: &Socket,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.lock();
        loop {
            if let Some(result) = state.deliver(buf) {
                state.known_readable = true;
                return Poll::Ready(result);
            }
            if let Some(wait) = state.wait.as_ref() {
                let Poll::Ready(reply) = wait.poll_reply(cx) else {
                    state.known_readable = false;
                    return Poll::Pending;
                };
                state.wait = None;
                state.absorb(reply);
                continue;
            }
            if state.waits {
                state.wait = Some(start_wait(socket)?);
                continue;
            }
            match socket.recv(buf, MSG_DONTWAIT) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    state.waits = true;
                    state.wait = Some(start_wait(socket)?);
                }
                other => {
                    state.known_readable = true;
                    return Poll::Ready(other);
                }
            }
        }
    }

    /// A read that does not wait: `WouldBlock` while a RECV waits with nothing yet.
    pub(super) fn try_read(&self, socket: &Socket, buf: &mut [u8]) -> io::Result<usize> {
        let mut state = self.lock();
        state.settle();
        if let Some(result) = state.deliver(buf) {
            return result;
        }
        let result = if state.wait.is_some() {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            socket.recv(buf, MSG_DONTWAIT)
        };
        state.known_readable = !result
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::WouldBlock);
        result
    }

    /// Ready once a read would not wait: bytes kept, or the end of the stream or an error
    /// met; true when it is the end of the stream. Until then a RECV waits (started here if
    /// none does).
    pub(super) fn poll_ready(
        &self,
        socket: &Socket,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<bool>> {
        let mut state = self.lock();
        loop {
            if state.pos < state.data.len() || state.outcome.is_some() {
                return Poll::Ready(Ok(matches!(state.outcome, Some(Ok(())))));
            }
            if let Some(wait) = state.wait.as_ref() {
                let Poll::Ready(reply) = wait.poll_reply(cx) else {
                    // Still taken to be readable: say so (a read may then find nothing,
                    // which tokio allows), while the RECV learns whether it is, and whether
                    // the stream has ended.
                    return if state.known_readable {
                        Poll::Ready(Ok(false))
                    } else {
                        Poll::Pending
                    };
                };
                state.wait = None;
                state.absorb(reply);
                state.known_readable = true;
                continue;
            }
            state.wait = Some(start_wait(socket)?);
        }
    }

    /// Before the stream becomes a blocking one: the waiting RECV is cancelled and its end
    /// awaited; bytes it or an earlier one brought that no read took are an error, since a
    /// blocking stream cannot give them back.
    pub(super) fn finish(&self) -> io::Result<()> {
        let mut state = self.lock();
        if let Some(wait) = state.wait.as_ref() {
            wait.cancel();
            // A cancelled request completes promptly (at once in process; through the
            // completion port on Windows).
            let deadline = Instant::now() + Duration::from_secs(10);
            while !wait.is_done() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        state.settle();
        let kept = state.data.len().saturating_sub(state.pos);
        if kept > 0 {
            return Err(io::Error::other(format!(
                "{kept} bytes the async stream received are not yet read: read them before into_std"
            )));
        }
        Ok(())
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let state = self.0.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(wait) = state.wait.take() {
            wait.cancel();
        }
    }
}
