//! A byte ring for a socket's receive queue: fallible growth, and writes straight into its
//! free space (no zero-filling per write, as `VecDeque::resize` would need).

use alloc::vec::Vec;

use crate::Errno;

/// The largest ring kept while empty: enough for Linux's default SO_SNDBUF (212992).
pub(crate) const IDLE_KEEP: usize = 256 * 1024;

#[derive(Debug, Default)]
pub(crate) struct ByteRing {
    buf: Vec<u8>,
    head: usize,
    len: usize,
    /// This empty ring's buffer is counted in the engine's budget of idle ring memory.
    idle_counted: bool,
}

impl ByteRing {
    pub(crate) const fn new() -> Self {
        Self {
            buf: Vec::new(),
            head: 0,
            len: 0,
            idle_counted: false,
        }
    }

    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The queued bytes, oldest first, in two parts.
    pub(crate) fn as_slices(&self) -> (&[u8], &[u8]) {
        let cap = self.buf.len();
        let first_len = self.len.min(cap.saturating_sub(self.head));
        let first = self
            .buf
            .get(self.head..self.head.saturating_add(first_len))
            .unwrap_or(&[]);
        let second = self
            .buf
            .get(..self.len.saturating_sub(first_len))
            .unwrap_or(&[]);
        (first, second)
    }

    /// Makes room for `n` more bytes (growing to a power of two, contents moved to the
    /// front). ENOBUFS if the memory cannot be had.
    pub(crate) fn try_reserve(&mut self, n: usize) -> Result<(), Errno> {
        let need = self.len.checked_add(n).ok_or(Errno::ENOBUFS)?;
        if need <= self.buf.len() {
            return Ok(());
        }
        let cap = need
            .checked_next_power_of_two()
            .ok_or(Errno::ENOBUFS)?
            .max(4096);
        let mut next = Vec::new();
        next.try_reserve_exact(cap).map_err(|_| Errno::ENOBUFS)?;
        let (a, b) = self.as_slices();
        next.extend_from_slice(a);
        next.extend_from_slice(b);
        next.resize(cap, 0);
        self.buf = next;
        self.head = 0;
        Ok(())
    }

    /// The free space for the next `n` bytes (reserved first), in two parts. Call
    /// `commit(n)` after filling them.
    pub(crate) fn free_slices(&mut self, n: usize) -> (&mut [u8], &mut [u8]) {
        let cap = self.buf.len();
        if cap == 0 {
            return (&mut [], &mut []);
        }
        let tail = self
            .head
            .saturating_add(self.len)
            .checked_rem(cap)
            .unwrap_or(0);
        let first_len = n.min(cap.saturating_sub(tail));
        let second_len = n.saturating_sub(first_len);
        let (low, high) = self.buf.split_at_mut(tail);
        let first = high.get_mut(..first_len).unwrap_or(&mut []);
        let second = low.get_mut(..second_len).unwrap_or(&mut []);
        (first, second)
    }

    /// Counts `n` bytes written into `free_slices(n)` as queued.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len = self.len.saturating_add(n).min(self.buf.len());
    }

    /// Drops the oldest `n` bytes. Whether an emptied ring keeps its buffer is the engine's
    /// decision (`Engine::settle_idle_ring`).
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        let cap = self.buf.len().max(1);
        self.head = self.head.saturating_add(n).checked_rem(cap).unwrap_or(0);
        self.len = self.len.saturating_sub(n);
        if self.len == 0 {
            self.head = 0;
        }
    }

    /// The buffer's size.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Gives the buffer back.
    pub(crate) fn release(&mut self) {
        self.buf = Vec::new();
        self.head = 0;
    }

    /// Whether this (empty) ring's buffer is counted as idle.
    pub(crate) const fn idle_counted(&self) -> bool {
        self.idle_counted
    }

    /// Counts this empty ring's buffer as idle.
    pub(crate) fn count_idle(&mut self) {
        self.idle_counted = true;
    }

    /// The ring is about to hold bytes again (or go away): the idle capacity it was counted
    /// for, which the engine takes off its total; 0 if it was not counted.
    pub(crate) fn take_idle(&mut self) -> usize {
        if core::mem::take(&mut self.idle_counted) {
            self.buf.len()
        } else {
            0
        }
    }
}
