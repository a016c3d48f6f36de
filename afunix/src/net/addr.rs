//! `SocketAddr`, as `std::os::unix::net::SocketAddr` has it.

use std::ffi::OsStr;
use std::fmt::{self, Write as _};
use std::io;
use std::path::Path;

/// `AF_UNIX` (1), native-endian, as the first two bytes of every `sockaddr_un`.
const FAMILY: [u8; 2] = 1u16.to_ne_bytes();
/// `sizeof(sun_path)`.
const SUN_PATH_LEN: usize = 108;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Kind {
    Unnamed,
    /// The path bytes (UTF-8 on Windows), without the NUL.
    Pathname(Vec<u8>),
    /// The name after the leading NUL.
    Abstract(Vec<u8>),
}

/// The address of an AF_UNIX socket: unnamed, a path, or an abstract name.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SocketAddr {
    kind: Kind,
}

impl SocketAddr {
    /// An address for `path`. Fails as std does when the path has a NUL byte or is longer than
    /// `sun_path` allows (108 bytes, less the terminating NUL).
    ///
    /// The empty path is the unnamed address, as with std, whose `sockaddr_un` for it has
    /// no `sun_path` bytes: binding to it autobinds (`unix_autobind`) and connecting to it
    /// is EINVAL.
    pub fn from_pathname<P: AsRef<Path>>(path: P) -> io::Result<SocketAddr> {
        let bytes = path_bytes(path.as_ref())?;
        if bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "paths must not contain interior null bytes",
            ));
        }
        if bytes.len() >= SUN_PATH_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "path must be shorter than SUN_LEN",
            ));
        }
        Ok(SocketAddr {
            kind: if bytes.is_empty() {
                Kind::Unnamed
            } else {
                Kind::Pathname(bytes)
            },
        })
    }

    /// An abstract address (`SocketAddrExt::from_abstract_name` on Linux): `name` may hold
    /// any bytes, NULs included, up to 107 of them.
    pub fn from_abstract_name<N: AsRef<[u8]>>(name: N) -> io::Result<SocketAddr> {
        let name = name.as_ref();
        if name.len() >= SUN_PATH_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "abstract socket name must be shorter than SUN_LEN",
            ));
        }
        Ok(SocketAddr {
            kind: Kind::Abstract(name.to_vec()),
        })
    }

    /// The address of a socket with no name.
    pub(crate) fn unnamed() -> SocketAddr {
        SocketAddr {
            kind: Kind::Unnamed,
        }
    }

    /// Whether the socket has no name.
    pub fn is_unnamed(&self) -> bool {
        matches!(self.kind, Kind::Unnamed)
    }

    /// The path, for a pathname address.
    pub fn as_pathname(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Pathname(bytes) => bytes_path(bytes),
            _ => None,
        }
    }

    /// The name, for an abstract address (`SocketAddrExt::as_abstract_name` on Linux).
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Abstract(name) => Some(name),
            _ => None,
        }
    }

    /// The `sockaddr_un` bytes to pass to BIND or CONNECT, `addrlen` of them: a pathname
    /// with its terminating NUL (as std passes it), an abstract name with its leading NUL.
    pub(crate) fn to_sockaddr(&self) -> Vec<u8> {
        let mut out = FAMILY.to_vec();
        match &self.kind {
            Kind::Unnamed => {}
            Kind::Pathname(p) => {
                out.extend_from_slice(p);
                out.push(0);
            }
            Kind::Abstract(n) => {
                out.push(0);
                out.extend_from_slice(n);
            }
        }
        out
    }

    /// The `sockaddr_un` bytes, `addrlen` of them, for [`crate::RawSocket`].
    pub fn to_sockaddr_bytes(&self) -> Vec<u8> {
        self.to_sockaddr()
    }

    /// Parses a reported `sockaddr_un` (its bytes up to the reported length).
    pub(crate) fn from_sockaddr(bytes: &[u8]) -> io::Result<SocketAddr> {
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the driver reported a malformed address",
            )
        };
        let (family, sun_path) = bytes.split_at_checked(2).ok_or_else(bad)?;
        if family != FAMILY {
            return Err(bad());
        }
        Ok(SocketAddr {
            kind: match sun_path.split_first() {
                None => Kind::Unnamed,
                Some((0, name)) => Kind::Abstract(name.to_vec()),
                Some(_) => {
                    let end = sun_path
                        .iter()
                        .position(|&b| b == 0)
                        .unwrap_or(sun_path.len());
                    Kind::Pathname(sun_path[..end].to_vec())
                }
            },
        })
    }
}

impl fmt::Debug for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Unnamed => write!(f, "(unnamed)"),
            Kind::Pathname(_) => match self.as_pathname() {
                Some(path) => write!(f, "{path:?} (pathname)"),
                None => write!(f, "(unprintable pathname)"),
            },
            Kind::Abstract(name) => write!(f, "{:?} (abstract)", ByteStrDebug(name)),
        }
    }
}

/// A byte string quoted as std's `SocketAddr` quotes an abstract name: NUL as `\0`, other
/// ASCII as `escape_ascii` has it, other characters of valid UTF-8 as `char::escape_debug`,
/// and every byte of invalid UTF-8 as `\xNN`.
struct ByteStrDebug<'a>(&'a [u8]);

impl fmt::Debug for ByteStrDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\0' => f.write_str("\\0")?,
                    // A one-byte character: its byte, escaped as an ASCII byte is.
                    '\x01'..='\x7f' => write!(f, "{}", [c as u8].escape_ascii())?,
                    _ => write!(f, "{}", c.escape_debug())?,
                }
            }
            write!(f, "{}", chunk.invalid().escape_ascii())?;
        }
        f.write_char('"')
    }
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    Ok(path.as_os_str().as_bytes().to_vec())
}

#[cfg(unix)]
fn bytes_path(bytes: &[u8]) -> Option<&Path> {
    use std::os::unix::ffi::OsStrExt;
    Some(Path::new(OsStr::from_bytes(bytes)))
}

/// On Windows, `sun_path` holds UTF-8, as with Microsoft's AF_UNIX.
#[cfg(not(unix))]
fn path_bytes(path: &Path) -> io::Result<Vec<u8>> {
    path.to_str().map(|s| s.as_bytes().to_vec()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket paths must be valid Unicode",
        )
    })
}

#[cfg(not(unix))]
fn bytes_path(bytes: &[u8]) -> Option<&Path> {
    std::str::from_utf8(bytes)
        .ok()
        .map(|s| Path::new(OsStr::new(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_each_kind_through_sockaddr_bytes() {
        for addr in [
            SocketAddr::from_pathname("/tmp/x.sock").unwrap(),
            SocketAddr::from_abstract_name(b"a\0b").unwrap(),
            SocketAddr::unnamed(),
        ] {
            assert_eq!(
                SocketAddr::from_sockaddr(&addr.to_sockaddr()).unwrap(),
                addr
            );
        }
    }

    #[test]
    fn pathnames_carry_a_nul_and_abstract_names_lead_with_one() {
        let p = SocketAddr::from_pathname("/a").unwrap().to_sockaddr();
        assert_eq!(&p[2..], b"/a\0");
        let a = SocketAddr::from_abstract_name("n").unwrap().to_sockaddr();
        assert_eq!(&a[2..], b"\0n");
    }

    #[test]
    fn refuses_what_std_refuses() {
        assert!(SocketAddr::from_pathname("a\0b").is_err());
        assert!(SocketAddr::from_pathname("x".repeat(108)).is_err());
        assert!(SocketAddr::from_pathname("x".repeat(107)).is_ok());
        assert!(SocketAddr::from_abstract_name([0u8; 108]).is_err());
    }

    #[test]
    fn debug_reads_like_std() {
        assert_eq!(format!("{:?}", SocketAddr::unnamed()), "(unnamed)");
        assert_eq!(
            format!("{:?}", SocketAddr::from_pathname("/s").unwrap()),
            "\"/s\" (pathname)"
        );
        assert_eq!(
            format!("{:?}", SocketAddr::from_abstract_name(b"x\0").unwrap()),
            "\"x\\0\" (abstract)"
        );
    }

    #[test]
    fn reported_pathnames_stop_at_the_first_nul() {
        let mut bytes = FAMILY.to_vec();
        bytes.extend_from_slice(b"/p\0junk");
        let addr = SocketAddr::from_sockaddr(&bytes).unwrap();
        assert_eq!(addr.as_pathname(), Some(Path::new("/p")));
        assert!(SocketAddr::from_sockaddr(&[9, 9, b'/']).is_err());
        assert!(SocketAddr::from_sockaddr(&[1]).is_err());
    }
}
