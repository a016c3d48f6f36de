//! Vectored reads and writes over requests that take one data buffer.
//!
//! SEND and RECV (and WriteFile and ReadFile) carry one buffer, so a vectored call gathers
//! its buffers into one before a single send, or receives once and scatters the bytes. One
//! request, not one per buffer, is what keeps `writev(2)`'s meaning: the concatenation goes
//! out as a write of it would, and a read waits as one read of the total length would.

use std::io::{self, IoSlice, IoSliceMut};

use afunix_core::Errno;

use crate::channel::io_error;

/// The most buffers one vectored call moves: Linux's `UIO_MAXIOV`, the `IOV_MAX` that std's
/// `read_vectored` and `write_vectored` stop at. The rest are left for the next call, whose
/// short count says so, as with std.
const MAX_BUFS: usize = 1024;

/// Sends the concatenation of `bufs` with one call of `send`. One non-empty buffer is sent
/// as it is; several are copied into a buffer of their total length, allocated fallibly, so
/// that a vector too large to copy is an error (ENOMEM) rather than an abort.
pub(super) fn gather(
    bufs: &[IoSlice<'_>],
    send: impl FnOnce(&[u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    let bufs = bufs.get(..MAX_BUFS).unwrap_or(bufs);
    let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
    match (non_empty.next(), non_empty.next()) {
        // Linux's vfs_writev returns 0 for a total of zero bytes without asking the socket,
        // so not even a shut-down socket reports an error.
        (None, _) => return Ok(0),
        (Some(only), None) => return send(only),
        _ => {}
    }
    let mut data = buffer(total_len(bufs.iter().map(|b| b.len()))?)?;
    for buf in bufs {
        data.extend_from_slice(buf);
    }
    send(&data)
}

/// Receives into `bufs`, in order, with one call of `recv` for their total length, and
/// returns its count. One non-empty buffer is received into directly; several share a
/// buffer of their total length, allocated fallibly as in [`gather`].
pub(super) fn scatter(
    bufs: &mut [IoSliceMut<'_>],
    recv: impl FnOnce(&mut [u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    let count = bufs.len().min(MAX_BUFS);
    let bufs = bufs.get_mut(..count).unwrap_or_default();
    if bufs.iter().filter(|b| !b.is_empty()).nth(1).is_none() {
        // Linux's vfs_readv returns 0 for a total of zero bytes without asking the socket:
        // unlike recv(2) of zero bytes, it neither waits for data nor reports EAGAIN.
        return match bufs.iter_mut().find(|b| !b.is_empty()) {
            Some(only) => recv(only),
            None => Ok(0),
        };
    }
    let total = total_len(bufs.iter().map(|b| b.len()))?;
    let mut data = buffer(total)?;
    data.resize(total, 0);
    let received = recv(&mut data)?;
    let mut rest = data.get(..received).unwrap_or(&data);
    for buf in bufs {
        if rest.is_empty() {
            break;
        }
        let n = buf.len().min(rest.len());
        let (now, later) = rest.split_at(n);
        if let Some(dst) = buf.get_mut(..n) {
            dst.copy_from_slice(now);
        }
        rest = later;
    }
    Ok(received)
}

/// The buffers' total length; EINVAL if it does not fit, as readv(2) says of an overflowing
/// total.
fn total_len(mut lens: impl Iterator<Item = usize>) -> io::Result<usize> {
    lens.try_fold(0usize, usize::checked_add)
        .ok_or_else(|| io_error(Errno::EINVAL))
}

/// An empty buffer with room for `total` bytes, or ENOMEM (not an abort) if there is none.
fn buffer(total: usize) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    data.try_reserve_exact(total)
        .map_err(|_| io_error(Errno::ENOMEM))?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_total_too_large_to_hold_is_an_error_not_an_abort() {
        assert_eq!(
            buffer(usize::MAX).unwrap_err().kind(),
            io::ErrorKind::OutOfMemory
        );
        assert_eq!(
            total_len([usize::MAX, 1].into_iter()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(total_len([3, 4].into_iter()).unwrap(), 7);
    }

    #[test]
    fn scatter_fills_the_buffers_in_order_and_leaves_the_rest() {
        let (mut a, mut b, mut c) = ([9u8; 2], [9u8; 0], [9u8; 4]);
        let mut bufs = [
            IoSliceMut::new(&mut a),
            IoSliceMut::new(&mut b),
            IoSliceMut::new(&mut c),
        ];
        let n = scatter(&mut bufs, |buf| {
            assert_eq!(buf.len(), 6, "one receive of the total length");
            buf[..3].copy_from_slice(b"xyz");
            Ok(3)
        })
        .unwrap();
        assert_eq!((n, a, c), (3, *b"xy", [b'z', 9, 9, 9]));
    }

    #[test]
    fn gather_sends_once_and_a_lone_buffer_without_a_copy() {
        let mut calls = Vec::new();
        let one = b"only";
        let n = gather(&[IoSlice::new(b""), IoSlice::new(one)], |data| {
            calls.push(data.as_ptr() == one.as_ptr());
            Ok(data.len())
        })
        .unwrap();
        assert_eq!((n, calls), (4, vec![true]));
        let mut sent = Vec::new();
        gather(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")], |data| {
            sent.push(data.to_vec());
            Ok(1)
        })
        .unwrap();
        assert_eq!(sent, vec![b"abcd".to_vec()]);
    }
}
