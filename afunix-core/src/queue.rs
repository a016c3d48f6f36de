//! A socket's queue of pending requests: first in, first out, and any entry removable in
//! constant time.
//!
//! Why this shape: a request is cancelled by token (CancelIoEx, a thread or process exiting),
//! and any of a socket's pending requests may be the one. A `VecDeque` finds it by scanning
//! and closes the gap by shifting, so one cancel costs as much as the queue is long, and a
//! process exiting with n requests pending on one socket cancels them in n^2, all under the
//! driver's one spin lock. Here the entries are nodes of a doubly linked list kept in a
//! `Vec` (the slab), linked by index, with a free list through the unused nodes: the engine
//! remembers each pending token's [`Slot`] and unlinks it directly. Order is the list's, so
//! FIFO is exactly what it was.
//!
//! Memory: the slab grows fallibly and never past the most entries the queue held at once;
//! it is given back when an empty queue takes a new entry. `push_front` (putting back the
//! entry `pop_front` just took) reuses the node `pop_front` freed, so it needs no memory.

use alloc::vec::Vec;

use crate::Errno;

/// No node.
const NIL: u32 = u32::MAX;

/// Where an entry sits in its queue, valid until it leaves the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot(u32);

#[derive(Debug)]
struct Node<T> {
    /// None: the node is on the free list.
    value: Option<T>,
    prev: u32,
    /// The next entry, or for a free node the next free node.
    next: u32,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    nodes: Vec<Node<T>>,
    head: u32,
    tail: u32,
    free: u32,
    /// Nodes are indexed by u32, so no more can be queued.
    len: u32,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Above this many nodes, an empty queue gives its slab back before it grows again.
const KEEP_NODES: usize = 16;

impl<T> Queue<T> {
    pub(crate) const fn new() -> Self {
        Self {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.len).unwrap_or(usize::MAX)
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn node(&self, i: u32) -> Option<&Node<T>> {
        self.nodes.get(usize::try_from(i).ok()?)
    }

    fn node_mut(&mut self, i: u32) -> Option<&mut Node<T>> {
        self.nodes.get_mut(usize::try_from(i).ok()?)
    }

    pub(crate) fn front(&self) -> Option<&T> {
        self.node(self.head)?.value.as_ref()
    }

    pub(crate) fn front_mut(&mut self) -> Option<&mut T> {
        let head = self.head;
        self.node_mut(head)?.value.as_mut()
    }

    /// The entry at `slot`, if it is in the queue.
    pub(crate) fn get(&self, slot: Slot) -> Option<&T> {
        self.node(slot.0)?.value.as_ref()
    }

    /// A node for `value`, off the free list or new; ENOMEM if the slab cannot grow.
    fn alloc(&mut self, value: T) -> Result<u32, (Errno, T)> {
        let i = self.free;
        if let Some(node) = usize::try_from(i)
            .ok()
            .and_then(|at| self.nodes.get_mut(at))
        {
            self.free = node.next;
            node.value = Some(value);
            return Ok(i);
        }
        let Ok(i) = u32::try_from(self.nodes.len()) else {
            return Err((Errno::ENOMEM, value));
        };
        if i == NIL || self.nodes.try_reserve(1).is_err() {
            return Err((Errno::ENOMEM, value));
        }
        self.nodes.push(Node {
            value: Some(value),
            prev: NIL,
            next: NIL,
        });
        Ok(i)
    }

    /// Appends `value`; its slot, or ENOMEM (and the value back) if the slab cannot grow.
    pub(crate) fn push_back(&mut self, value: T) -> Result<Slot, (Errno, T)> {
        if self.len == 0 && self.nodes.len() > KEEP_NODES {
            // Empty after a burst: give the slab back rather than keep its peak for ever.
            self.nodes = Vec::new();
            self.free = NIL;
        }
        let i = self.alloc(value)?;
        let tail = self.tail;
        if let Some(n) = self.node_mut(i) {
            n.prev = tail;
            n.next = NIL;
        }
        match self.node_mut(tail) {
            Some(t) => t.next = i,
            None => self.head = i,
        }
        self.tail = i;
        self.len = self.len.saturating_add(1);
        Ok(Slot(i))
    }

    /// Puts `value` first: the entry [`Queue::pop_front`] just took, back. That freed a node,
    /// which this reuses, so it fails (giving the value back) only if something else was
    /// pushed in between and the slab cannot grow.
    pub(crate) fn push_front(&mut self, value: T) -> Result<Slot, (Errno, T)> {
        let i = self.alloc(value)?;
        let head = self.head;
        if let Some(n) = self.node_mut(i) {
            n.prev = NIL;
            n.next = head;
        }
        match self.node_mut(head) {
            Some(h) => h.prev = i,
            None => self.tail = i,
        }
        self.head = i;
        self.len = self.len.saturating_add(1);
        Ok(Slot(i))
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        self.remove(Slot(self.head))
    }

    /// Takes the entry at `slot` out of the queue, wherever it is.
    pub(crate) fn remove(&mut self, slot: Slot) -> Option<T> {
        let i = slot.0;
        let free = self.free;
        let node = self.node_mut(i)?;
        let value = node.value.take()?;
        // (A free node has no value, so a stale slot stops above.)
        let (prev, next) = (node.prev, node.next);
        node.prev = NIL;
        node.next = free;
        self.free = i;
        match self.node_mut(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.node_mut(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        self.len = self.len.saturating_sub(1);
        Some(value)
    }

    /// Takes out the entry at `slot` if `is_it` says it is the one, else the first entry that
    /// is (a walk). The engine records every entry's slot, so the walk is never needed; it
    /// is there so that a stale slot can only cost time, never take the wrong entry.
    pub(crate) fn take(&mut self, slot: Option<Slot>, is_it: impl Fn(&T) -> bool) -> Option<T> {
        let slot = match slot {
            Some(s) if self.get(s).is_some_and(&is_it) => s,
            _ => self.find(is_it)?,
        };
        self.remove(slot)
    }

    /// The slot of the first entry for which `pred` holds (a walk: for recovery only).
    pub(crate) fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Option<Slot> {
        let mut i = self.head;
        while let Some(node) = self.node(i) {
            if node.value.as_ref().is_some_and(&mut pred) {
                return Some(Slot(i));
            }
            i = node.next;
        }
        None
    }

    /// The entries, front to back.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        let mut i = self.head;
        core::iter::from_fn(move || {
            let node = self.node(i)?;
            i = node.next;
            node.value.as_ref()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn contents(q: &Queue<u32>) -> Vec<u32> {
        q.iter().copied().collect()
    }

    #[test]
    fn fifo_with_removal_from_anywhere() {
        let mut q = Queue::new();
        let slots: Vec<Slot> = (0..6).map(|v| q.push_back(v).unwrap()).collect();
        assert_eq!(q.remove(slots[2]), Some(2));
        assert_eq!(q.remove(slots[0]), Some(0));
        assert_eq!(q.remove(slots[5]), Some(5));
        // A slot that left the queue names nothing, even after its node is reused.
        assert_eq!(q.remove(slots[2]), None);
        assert_eq!(contents(&q), vec![1, 3, 4]);
        q.push_back(6).unwrap();
        assert_eq!(q.len(), 4);
        assert_eq!(q.pop_front(), Some(1));
        assert_eq!(q.front(), Some(&3));
        assert_eq!(contents(&q), vec![3, 4, 6]);
    }

    #[test]
    fn push_front_after_pop_front_keeps_the_slot_and_needs_no_memory() {
        let mut q = Queue::new();
        let a = q.push_back(10).unwrap();
        q.push_back(11).unwrap();
        let v = q.pop_front().unwrap();
        let free_before = q.nodes.len();
        assert_eq!(q.push_front(v).unwrap(), a);
        assert_eq!(q.nodes.len(), free_before);
        assert_eq!(contents(&q), vec![10, 11]);
        assert_eq!(
            q.find(|v| *v == 11).map(|s| q.get(s).copied()),
            Some(Some(11))
        );
    }

    #[test]
    fn an_emptied_queue_gives_its_slab_back() {
        let mut q = Queue::new();
        for v in 0..1000 {
            q.push_back(v).unwrap();
        }
        while q.pop_front().is_some() {}
        assert!(q.is_empty());
        q.push_back(1).unwrap();
        assert!(q.nodes.capacity() < 1000);
        assert_eq!(contents(&q), vec![1]);
    }
}
