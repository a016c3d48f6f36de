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
/// (`BTreeMap` allocates infallibly). An insertion or removal shifts the entries after it,
/// so its cost grows with the map: for small tables, or where order matters; tables on the
/// request path are [`KeyedMap`]s.
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

/// The hash of the engine's and the device layer's tables, keyed by a seed the caller
/// passes in ([`crate::Limits::hash_seed`]; the driver draws it at load).
///
/// Two kinds of key reach these tables. Tokens and file ids are addresses the kernel
/// chooses; they are mixed by a keyed multiply-and-fold, a few nanoseconds. Socket names are
/// bytes a program chooses: a program that could make names collide would make every
/// lookup walk all of them, so bytes go through SipHash with a 128-bit key derived from the
/// seed (core's `SipHasher`, SipHash-2-4; deprecated only in favour of std's
/// `DefaultHasher`, which a `no_std` crate cannot use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyedHash {
    k0: u64,
    k1: u64,
}

/// An odd constant with well-spread bits (the golden ratio's), for multiplicative mixing.
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// The high and low halves of the 128-bit product, folded together: every input bit
/// reaches every output bit.
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a).wrapping_mul(u128::from(b));
    (p as u64) ^ ((p >> 64) as u64)
}

impl KeyedHash {
    /// The hash keyed by `seed`.
    #[must_use]
    pub fn new(seed: u64) -> KeyedHash {
        let k0 = fold(seed ^ 0x243F_6A88_85A3_08D3, MIX);
        let k1 = fold(seed ^ 0x1319_8A2E_0370_7344, MIX ^ k0) | 1;
        KeyedHash { k0, k1 }
    }
}

impl core::hash::BuildHasher for KeyedHash {
    type Hasher = KeyedHasher;

    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            key: *self,
            word: self.k0,
            bytes: None,
        }
    }
}

/// See [`KeyedHash`].
#[derive(Debug)]
pub struct KeyedHasher {
    key: KeyedHash,
    /// The integers written so far, mixed.
    word: u64,
    /// The bytes written so far, if any.
    #[allow(deprecated)]
    bytes: Option<core::hash::SipHasher>,
}

impl KeyedHasher {
    fn integer(&mut self, v: u64) {
        self.word = fold(self.word ^ v, MIX ^ self.key.k1);
    }
}

impl core::hash::Hasher for KeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        let (k0, k1) = (self.key.k0, self.key.k1);
        #[allow(deprecated)]
        self.bytes
            .get_or_insert_with(|| core::hash::SipHasher::new_with_keys(k0, k1))
            .write(bytes);
    }

    fn write_u8(&mut self, v: u8) {
        self.integer(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.integer(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.integer(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.integer(v);
    }
    fn write_u128(&mut self, v: u128) {
        self.integer(v as u64);
        self.integer((v >> 64) as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.integer(v as u64);
    }
    fn write_i8(&mut self, v: i8) {
        self.integer(v as u64);
    }
    fn write_i16(&mut self, v: i16) {
        self.integer(v as u64);
    }
    fn write_i32(&mut self, v: i32) {
        self.integer(v as u64);
    }
    fn write_i64(&mut self, v: i64) {
        self.integer(v as u64);
    }
    fn write_i128(&mut self, v: i128) {
        self.write_u128(v as u128);
    }
    fn write_isize(&mut self, v: isize) {
        self.integer(v as u64);
    }

    fn finish(&self) -> u64 {
        let word = fold(self.word, MIX ^ self.key.k0);
        match &self.bytes {
            Some(sip) => fold(word ^ sip.finish(), MIX),
            None => word,
        }
    }
}

/// A hash table whose growth can fail instead of aborting: room is reserved (fallibly)
/// before every insertion, so an insertion never allocates. Lookups, insertions and
/// removals cost the same however many entries it holds, which a table searched and shifted
/// under the driver's one spin lock must (the security issue: "bounded cost per
/// operation"). Public for the device layer and the driver, which keep their tables the
/// same way.
pub struct KeyedMap<K, V> {
    map: hashbrown::HashMap<K, V, KeyedHash>,
}

impl<K: core::fmt::Debug, V: core::fmt::Debug> core::fmt::Debug for KeyedMap<K, V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.map.iter()).finish()
    }
}

impl<K: core::hash::Hash + Eq, V> KeyedMap<K, V> {
    /// An empty map hashing with `hash`. Allocates nothing.
    #[must_use]
    pub fn new(hash: KeyedHash) -> Self {
        Self {
            map: hashbrown::HashMap::with_hasher(hash),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    #[must_use]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    #[must_use]
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Inserts a new key. `Err(EEXIST)` if present, `Err(ENOMEM)` if it cannot grow.
    pub fn try_insert(&mut self, key: K, value: V) -> Result<(), Errno> {
        if self.map.contains_key(&key) {
            return Err(Errno::EEXIST);
        }
        self.try_reserve(1)?;
        // Room for one more was made just above: this does not allocate.
        self.map.insert(key, value);
        Ok(())
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key)
    }

    /// Makes room for `n` more entries, so that the next `n` insertions cannot fail for memory.
    pub fn try_reserve(&mut self, n: usize) -> Result<(), Errno> {
        self.map.try_reserve(n).map_err(|_| Errno::ENOMEM)
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    /// Keeps only the entries for which `keep` is true (one pass over the table).
    pub fn retain(&mut self, keep: impl FnMut(&K, &mut V) -> bool) {
        self.map.retain(keep);
    }
}
