//! NT paths as BIND and CONNECT carry them (UTF-16LE bytes: `\??\C:\dir\name`,
//! `\??\UNC\server\share\name`, `\Device\HarddiskVolume1\name`), taken apart as the driver
//! opens them: the volume's root first, then the directory that holds the socket file,
//! relative to the root, then the socket file's own name, relative to that directory.

/// The separator `\` as a UTF-16 unit.
const SEPARATOR: u16 = b'\\' as u16;

/// The UTF-16 units of a path, with their byte offsets.
pub fn units(path: &[u8]) -> impl DoubleEndedIterator<Item = (usize, u16)> + '_ {
    path.chunks_exact(2).enumerate().map(|(i, u)| {
        let unit = u16::from_le_bytes([
            u.first().copied().unwrap_or(0),
            u.get(1).copied().unwrap_or(0),
        ]);
        (i.saturating_mul(2), unit)
    })
}

/// The byte offsets of a path's separators, last first.
pub fn separators(path: &[u8]) -> impl Iterator<Item = usize> + '_ {
    units(path)
        .rev()
        .filter(|(_, unit)| *unit == SEPARATOR)
        .map(|(offset, _)| offset)
}

/// The byte length of a path's volume root, without its separator: `\??\C:`,
/// `\??\UNC\server\share`, or for any other form (`\Device\HarddiskVolume1\...`,
/// `\??\pipe\...`) its first two components. Nothing at or above it is looked up as a
/// directory.
pub fn root_len(path: &[u8]) -> usize {
    let unc = path.get(..8) == Some(&[b'\\', 0, b'?', 0, b'?', 0, b'\\', 0])
        && path
            .get(8..16)
            .is_some_and(|u| u.eq_ignore_ascii_case(&[b'U', 0, b'N', 0, b'C', 0, b'\\', 0]));
    // Separators: the first two bound `??`; a drive's root ends at the third (`\??\C:`), a
    // share's at the fifth (`\??\UNC\server\share`), any other form's at the third.
    units(path)
        .filter(|(_, unit)| *unit == SEPARATOR)
        .map(|(offset, _)| offset)
        .nth(if unc { 4 } else { 2 })
        .unwrap_or(path.len())
}

/// A name Windows cannot hold as a file: a `:` past the volume root names a stream of
/// another file (`notes.txt:x`), which a socket file must never be.
pub fn holds_stream_name(path: &[u8]) -> bool {
    let root = root_len(path);
    units(path).any(|(offset, u)| offset >= root && u == u16::from(b':'))
}

/// The path without trailing separators, if it had any ("name\" from `sun_path` "name/").
pub fn without_trailing_separators(path: &[u8]) -> Option<&[u8]> {
    let mut end = path.len();
    while end >= 2 && path.get(end.saturating_sub(2)..end) == Some(&[b'\\', 0]) {
        end = end.saturating_sub(2);
    }
    (end != path.len() && end > 0)
        .then(|| path.get(..end))
        .flatten()
}

/// A path taken apart for opening: the volume's root (with its separator, `\??\C:\`: without
/// it, `\??\C:` would open the volume itself), the directory below the root that holds the
/// last component (empty when that is the root itself), and the last component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts<'p> {
    /// `\??\C:\`, `\??\UNC\server\share\`, `\??\pipe\`.
    pub root: &'p [u8],
    /// `dir\sub`, relative to the root; empty for a name in the root.
    pub parent: &'p [u8],
    /// The last component: one name, no separator.
    pub leaf: &'p [u8],
}

impl<'p> Parts<'p> {
    /// Splits `path`; None when it names no component below its volume root (the root
    /// itself, or a trailing separator, which the caller looks at first).
    pub fn of(path: &'p [u8]) -> Option<Parts<'p>> {
        let root = root_len(path);
        let below = root.checked_add(2)?;
        // The root's own separator must be there.
        if path.get(root..below) != Some(&[b'\\', 0]) {
            return None;
        }
        let last = separators(path).next()?;
        let leaf_start = last.checked_add(2)?;
        let leaf = path.get(leaf_start..).filter(|leaf| !leaf.is_empty())?;
        let parent = if last > root {
            path.get(below..last)?
        } else {
            &[]
        };
        Some(Parts {
            root: path.get(..below)?,
            parent,
            leaf,
        })
    }

    /// The ancestors of the last component below the root, nearest first, each as a path
    /// relative to the root (`a\b\c` gives `a\b\c`, `a\b`, `a`); at most `max` of them.
    pub fn ancestors(&self, max: usize) -> impl Iterator<Item = &'p [u8]> + 'p {
        let parent = self.parent;
        let ends = separators(parent);
        core::iter::once(parent.len())
            .filter(|len| *len > 0)
            .chain(ends)
            .filter(|end| *end > 0)
            .take(max)
            .filter_map(move |end| parent.get(..end))
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use alloc::vec::Vec;

    use super::*;

    fn nt(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn text(bytes: &[u8]) -> String {
        let units: Vec<u16> = units(bytes).map(|(_, u)| u).collect();
        String::from_utf16(&units).unwrap()
    }

    #[track_caller]
    fn parts(path: &str) -> Option<(String, String, String)> {
        let bytes = nt(path);
        Parts::of(&bytes).map(|p| (text(p.root), text(p.parent), text(p.leaf)))
    }

    #[track_caller]
    fn split(root: &str, parent: &str, leaf: &str) -> Option<(String, String, String)> {
        Some((root.into(), parent.into(), leaf.into()))
    }

    #[test]
    fn a_path_splits_into_root_parent_and_leaf() {
        assert_eq!(parts(r"\??\C:\s"), split(r"\??\C:\", "", "s"));
        assert_eq!(
            parts(r"\??\C:\dir\sub\s"),
            split(r"\??\C:\", r"dir\sub", "s")
        );
        assert_eq!(
            parts(r"\??\UNC\server\share\d\s"),
            split(r"\??\UNC\server\share\", "d", "s")
        );
        assert_eq!(
            parts(r"\??\unc\server\share\s"),
            split(r"\??\unc\server\share\", "", "s")
        );
        // A pipe's name: the root is the pipe file system's, which the driver refuses.
        assert_eq!(parts(r"\??\pipe\name"), split(r"\??\pipe\", "", "name"));
        assert_eq!(
            parts(r"\Device\HarddiskVolume1\d\s"),
            split(r"\Device\HarddiskVolume1\", "d", "s")
        );
    }

    #[test]
    fn a_path_with_nothing_below_its_root_does_not_split() {
        for path in [
            r"\??\C:",
            r"\??\C:\",
            r"\??\C:\d\",
            r"\??\UNC\server\share",
            r"\??\UNC\server",
            r"\??",
            "s",
        ] {
            assert_eq!(parts(path), None, "{path}");
        }
    }

    #[test]
    fn ancestors_go_from_the_parent_up_to_below_the_root() {
        let bytes = nt(r"\??\C:\a\b\c\s");
        let p = Parts::of(&bytes).unwrap();
        let all: Vec<String> = p.ancestors(64).map(text).collect();
        assert_eq!(all, [r"a\b\c", r"a\b", "a"]);
        let two: Vec<String> = p.ancestors(2).map(text).collect();
        assert_eq!(two, [r"a\b\c", r"a\b"]);
        let bytes = nt(r"\??\C:\s");
        assert_eq!(Parts::of(&bytes).unwrap().ancestors(64).count(), 0);
    }

    #[test]
    fn streams_and_trailing_separators_are_seen() {
        assert!(holds_stream_name(&nt(r"\??\C:\notes.txt:x")));
        assert!(!holds_stream_name(&nt(r"\??\C:\notes.txt")));
        assert_eq!(
            without_trailing_separators(&nt(r"\??\C:\d\\")).map(text),
            Some(String::from(r"\??\C:\d"))
        );
        assert_eq!(without_trailing_separators(&nt(r"\??\C:\d")), None);
    }
}
