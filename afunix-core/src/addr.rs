//! `sockaddr_un` semantics, exactly as Linux has them (`net/unix/af_unix.c`).

use alloc::vec::Vec;

use crate::Errno;
use crate::util::try_copy;

/// `AF_UNIX`.
pub const AF_UNIX: u16 = 1;
/// `offsetof(struct sockaddr_un, sun_path)`.
pub const SUN_PATH_OFFSET: usize = 2;
/// `sizeof(sun_path)`.
pub const SUN_PATH_LEN: usize = 108;
/// `sizeof(struct sockaddr_un)`.
pub const SOCKADDR_UN_LEN: usize = SUN_PATH_OFFSET + SUN_PATH_LEN;

/// The address of a socket, as `getsockname`/`getpeername` report it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnixAddr {
    /// No name: reported with length 2 (`sizeof(sa_family_t)`).
    Unnamed,
    /// A filesystem name: the path bytes up to (not including) the first NUL.
    Pathname(Vec<u8>),
    /// An abstract name: the bytes after the leading NUL (embedded NULs allowed).
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// The length Linux reports (`addr->len`, or 2 when unnamed). For a pathname of the full
    /// 108 bytes this is 111: Linux counts the terminating NUL that `unix_mkname_bsd` writes
    /// past `sun_path`, and the caller's buffer receives a truncated copy.
    #[must_use]
    pub fn reported_len(&self) -> usize {
        match self {
            Self::Unnamed => SUN_PATH_OFFSET,
            Self::Pathname(p) => SUN_PATH_OFFSET.saturating_add(p.len()).saturating_add(1),
            Self::Abstract(n) => SUN_PATH_OFFSET.saturating_add(1).saturating_add(n.len()),
        }
    }

    /// The whole `sockaddr_un` Linux would copy out (family + `sun_path` bytes, `reported_len`
    /// bytes; for an unnamed socket the family alone). Callers truncate to the user's buffer.
    pub fn to_sockaddr(&self) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        out.try_reserve(self.reported_len())
            .map_err(|_| Errno::ENOMEM)?;
        out.extend_from_slice(&AF_UNIX.to_ne_bytes());
        match self {
            Self::Unnamed => {}
            Self::Pathname(p) => {
                out.extend_from_slice(p);
                out.push(0);
            }
            Self::Abstract(n) => {
                out.push(0);
                out.extend_from_slice(n);
            }
        }
        Ok(out)
    }

    /// A fallible copy.
    pub fn try_clone(&self) -> Result<Self, Errno> {
        Ok(match self {
            Self::Unnamed => Self::Unnamed,
            Self::Pathname(p) => Self::Pathname(try_copy(p)?),
            Self::Abstract(n) => Self::Abstract(try_copy(n)?),
        })
    }
}

/// What a `bind` sockaddr asks for, after Linux's checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindRequest {
    /// `addr_len == 2` with family `AF_UNIX`: `unix_autobind`.
    Autobind,
    /// A filesystem path: bytes up to the first NUL (`unix_mkname_bsd`). The caller creates
    /// the file and passes the engine a [`PathKey`](crate::PathKey) with these bytes.
    Pathname(Vec<u8>),
    /// An abstract name: the bytes after the leading NUL.
    Abstract(Vec<u8>),
}

/// What a `connect` sockaddr names, after Linux's checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectRequest {
    /// A filesystem path (`unix_find_bsd`): the caller resolves it to a key.
    Pathname(Vec<u8>),
    /// An abstract name (`unix_find_abstract`).
    Abstract(Vec<u8>),
}

/// `unix_validate_addr`: length in (2, 110] and family `AF_UNIX`, else EINVAL.
fn validate(raw: &[u8]) -> Result<&[u8], Errno> {
    if raw.len() <= SUN_PATH_OFFSET || raw.len() > SOCKADDR_UN_LEN {
        return Err(Errno::EINVAL);
    }
    let family = raw.get(..SUN_PATH_OFFSET).ok_or(Errno::EINVAL)?;
    if family != AF_UNIX.to_ne_bytes() {
        return Err(Errno::EINVAL);
    }
    raw.get(SUN_PATH_OFFSET..).ok_or(Errno::EINVAL)
}

/// Splits a validated `sun_path` into a pathname (`unix_mkname_bsd`: up to the first NUL) or an
/// abstract name (leading NUL; every byte of the given length counts).
fn classify(sun_path: &[u8]) -> Result<(bool, Vec<u8>), Errno> {
    match sun_path.split_first() {
        Some((0, name)) => Ok((false, try_copy(name)?)),
        Some(_) => {
            let end = sun_path
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(sun_path.len());
            Ok((true, try_copy(sun_path.get(..end).ok_or(Errno::EINVAL)?)?))
        }
        None => Err(Errno::EINVAL),
    }
}

/// Parses the sockaddr given to `bind` (`raw.len()` is `addr_len`), as `unix_bind` does.
pub fn parse_bind_addr(raw: &[u8]) -> Result<BindRequest, Errno> {
    if raw.len() == SUN_PATH_OFFSET && raw == AF_UNIX.to_ne_bytes() {
        return Ok(BindRequest::Autobind);
    }
    let (is_path, name) = classify(validate(raw)?)?;
    Ok(if is_path {
        BindRequest::Pathname(name)
    } else {
        BindRequest::Abstract(name)
    })
}

/// Parses the sockaddr given to `connect`, as `unix_stream_connect` does.
pub fn parse_connect_addr(raw: &[u8]) -> Result<ConnectRequest, Errno> {
    let (is_path, name) = classify(validate(raw)?)?;
    Ok(if is_path {
        ConnectRequest::Pathname(name)
    } else {
        ConnectRequest::Abstract(name)
    })
}

/// The abstract name `unix_autobind` gives for `ordernum`: five lowercase hex digits.
pub(crate) fn autobind_name(ordernum: u32) -> Result<Vec<u8>, Errno> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut name = Vec::new();
    name.try_reserve(5).map_err(|_| Errno::ENOMEM)?;
    for shift in [16u32, 12, 8, 4, 0] {
        let nibble = (ordernum >> shift) & 0xF;
        let digit = HEX
            .get(usize::try_from(nibble).unwrap_or(0))
            .copied()
            .unwrap_or(b'0');
        name.push(digit);
    }
    Ok(name)
}
