//! The socket table: slots addressed by [`SocketId`], an index plus a generation so that a
//! stale id never reaches a reused slot (smoltcp's `SocketHandle`, with a generation).

use alloc::vec::Vec;

use crate::Errno;

/// A socket's handle: slot index and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId {
    index: u32,
    generation: u32,
}

impl SocketId {
    /// The slot index (stable while the socket lives; useful as a small integer for logs).
    #[must_use]
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The generation of the slot when this socket was created.
    #[must_use]
    pub const fn generation(self) -> u32 {
        self.generation
    }

    /// Rebuilds an id from its parts (for callers that store ids as integers).
    #[must_use]
    pub const fn from_parts(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// A slab of `T` with generation-checked ids and fallible growth.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
    max: usize,
}

impl<T> Slab<T> {
    pub(crate) const fn new(max: usize) -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            max,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Stores `value`; ENFILE when the table is at its cap, ENOMEM when it cannot grow.
    pub(crate) fn insert(&mut self, value: T) -> Result<SocketId, Errno> {
        if self.live >= self.max {
            return Err(Errno::ENFILE);
        }
        // Reserve room on the free list now, so that `remove` never allocates.
        self.free.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        if let Some(index) = self.free.pop() {
            let slot = self
                .slots
                .get_mut(usize::try_from(index).map_err(|_| Errno::ENFILE)?)
                .ok_or(Errno::ENFILE)?;
            slot.value = Some(value);
            self.live = self.live.saturating_add(1);
            return Ok(SocketId {
                index,
                generation: slot.generation,
            });
        }
        let index = u32::try_from(self.slots.len()).map_err(|_| Errno::ENFILE)?;
        if self.slots.len() == self.slots.capacity() {
            // Grow by an eighth (at least 64 slots, never past the cap), not by doubling: a
            // doubled table leaves up to half its slots unused, which at the driver's socket
            // cap is megabytes of non-paged pool that no socket holds.
            let grow = (self.slots.len() / 8)
                .max(64)
                .min(self.max.saturating_sub(self.slots.len()))
                .max(1);
            self.slots
                .try_reserve_exact(grow)
                .map_err(|_| Errno::ENOMEM)?;
        }
        // Room for every slot on the free list, so that `remove` never allocates.
        let want = self.slots.capacity().saturating_sub(self.free.len());
        self.free
            .try_reserve_exact(want)
            .map_err(|_| Errno::ENOMEM)?;
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        self.live = self.live.saturating_add(1);
        Ok(SocketId {
            index,
            generation: 0,
        })
    }

    fn slot(&self, id: SocketId) -> Option<&Slot<T>> {
        let slot = self.slots.get(usize::try_from(id.index).ok()?)?;
        (slot.generation == id.generation).then_some(slot)
    }

    pub(crate) fn get(&self, id: SocketId) -> Option<&T> {
        self.slot(id)?.value.as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: SocketId) -> Option<&mut T> {
        let slot = self.slots.get_mut(usize::try_from(id.index).ok()?)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Removes and returns the value; the slot's generation moves on.
    pub(crate) fn remove(&mut self, id: SocketId) -> Option<T> {
        let slot = self.slots.get_mut(usize::try_from(id.index).ok()?)?;
        if slot.generation != id.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.live = self.live.saturating_sub(1);
        // Capacity for every slot was reserved in `insert`, so this push does not allocate.
        self.free.push(id.index);
        Some(value)
    }
}
