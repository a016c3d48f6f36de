//! Small fallible helpers.

use alloc::vec::Vec;

use crate::Errno;

/// A copy of `bytes` that reports allocation failure instead of aborting.
pub(crate) fn try_copy(bytes: &[u8]) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(bytes.len())
        .map_err(|_| Errno::ENOMEM)?;
    v.extend_from_slice(bytes);
    Ok(v)
}

/// A map kept as a sorted vector, so that every insertion can fail instead of aborting
/// (`BTreeMap` allocates infallibly). Public for the device layer, which keeps its tables
/// the same way.
#[derive(Debug)]
pub struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K: Ord, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// Whether the map is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// An empty map.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    #[must_use]
    pub fn get(&self, key: &K) -> Option<&V> {
        let i = self.entries.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
        self.entries.get(i).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.entries.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    #[must_use]
    pub fn contains(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Inserts a new key. `Err(EEXIST)` if present, `Err(ENOMEM)` if it cannot grow.
    pub fn try_insert(&mut self, key: K, value: V) -> Result<(), Errno> {
        match self.entries.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(_) => Err(Errno::EEXIST),
            Err(i) => {
                self.entries.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                self.entries.insert(i, (key, value));
                Ok(())
            }
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.entries.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
        Some(self.entries.remove(i).1)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// Makes room for `n` more entries, so that the next `n` insertions cannot fail for memory.
    pub fn try_reserve(&mut self, n: usize) -> Result<(), Errno> {
        self.entries.try_reserve(n).map_err(|_| Errno::ENOMEM)
    }
}
