//! The STATS reply: what the driver reports about itself.

use core::mem::{offset_of, size_of};

use static_assertions::const_assert_eq;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The layout version of [`DriverStats`]. A reader refuses any other version; a later version
/// that only appends fields keeps the prefix and raises this number.
/// Version 2 appended the socket counters.
pub const STATS_VERSION: u32 = 2;

/// A driver version, `major.minor.patch`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DriverVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
    /// Which of the driver's two builds answers: [`FRONT_END_WDM`] (`afunixrs.sys`; the
    /// field was reserved, and zero, before there were two) or [`FRONT_END_KMDF`]
    /// (`afunixkm.sys`).
    pub front_end: u16,
}

/// [`DriverVersion::front_end`] of the WDM driver, `afunixrs.sys`.
pub const FRONT_END_WDM: u16 = 0;
/// [`DriverVersion::front_end`] of the KMDF driver, `afunixkm.sys`.
pub const FRONT_END_KMDF: u16 = 1;

impl DriverVersion {
    /// Parses `major.minor.patch` at compile time (from `CARGO_PKG_VERSION_*`).
    ///
    /// Only ever evaluated in a `const`, where a malformed number fails the build.
    #[allow(
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing,
        clippy::panic
    )]
    pub const fn from_parts(major: &str, minor: &str, patch: &str) -> Self {
        const fn number(s: &str) -> u16 {
            let b = s.as_bytes();
            if b.is_empty() {
                panic!("empty version number");
            }
            let mut value: u16 = 0;
            let mut i = 0;
            while i < b.len() {
                let digit = b[i];
                if !digit.is_ascii_digit() {
                    panic!("version numbers are decimal");
                }
                value = value * 10 + (digit - b'0') as u16;
                i += 1;
            }
            value
        }
        DriverVersion {
            major: number(major),
            minor: number(minor),
            patch: number(patch),
            front_end: FRONT_END_WDM,
        }
    }

    /// The same version, naming front end `front_end` ([`FRONT_END_WDM`], [`FRONT_END_KMDF`]).
    pub const fn of_front_end(self, front_end: u16) -> Self {
        DriverVersion { front_end, ..self }
    }

    /// The framework the driver is built on, for people: "WDM", "KMDF", or "unknown".
    pub const fn framework(&self) -> &'static str {
        match self.front_end {
            FRONT_END_WDM => "WDM",
            FRONT_END_KMDF => "KMDF",
            _ => "unknown",
        }
    }
}

impl core::fmt::Display for DriverVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The reply to `IOCTL_AFUNIX_STATS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DriverStats {
    /// `size_of::<DriverStats>()` as the driver knows it.
    pub size: u32,
    /// [`STATS_VERSION`].
    pub version: u32,
    /// The driver's own version.
    pub driver_version: DriverVersion,
    /// File objects open on the device right now (handles, counted from CREATE to CLOSE).
    pub open_handles: u64,
    /// Bytes of pool the driver holds right now, through its allocator.
    pub pool_bytes: u64,
    /// Sockets (connected, listening, fresh, and embryos awaiting accept).
    pub sockets: u64,
    /// Names bound (pathname and abstract).
    pub bound_names: u64,
    /// Bytes buffered in the engine (queued data and pending sends).
    pub bytes_buffered: u64,
    /// Requests (IRPs) pending.
    pub pending_irps: u64,
    /// The limits in force: most sockets, most bytes buffered over all sockets.
    pub max_sockets: u64,
    pub max_bytes_buffered: u64,
}

/// Counters and limits of the socket engine, for [`DriverStats::new`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketCounters {
    pub sockets: u64,
    pub bound_names: u64,
    pub bytes_buffered: u64,
    pub pending_irps: u64,
    pub max_sockets: u64,
    pub max_bytes_buffered: u64,
}

/// Size of the version 2 struct; set into `size` by the driver.
pub const STATS_SIZE: u32 = 80;

const_assert_eq!(size_of::<DriverStats>(), STATS_SIZE as usize);
const_assert_eq!(offset_of!(DriverStats, size), 0);
const_assert_eq!(offset_of!(DriverStats, version), 4);
const_assert_eq!(offset_of!(DriverStats, driver_version), 8);
const_assert_eq!(offset_of!(DriverStats, open_handles), 16);
const_assert_eq!(offset_of!(DriverStats, pool_bytes), 24);
const_assert_eq!(offset_of!(DriverStats, sockets), 32);
const_assert_eq!(offset_of!(DriverStats, pending_irps), 56);
const_assert_eq!(offset_of!(DriverStats, max_bytes_buffered), 72);
const_assert_eq!(size_of::<DriverVersion>(), 8);

/// Why a STATS reply was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsError {
    /// Fewer bytes than the fixed header, or than the size the reply claims.
    Truncated { got: usize },
    /// A layout version this build does not know.
    UnknownVersion(u32),
    /// The `size` field disagrees with the version's size.
    BadSize(u32),
    /// The front end is neither WDM nor KMDF.
    UnknownFrontEnd(u16),
}

impl core::fmt::Display for StatsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StatsError::Truncated { got } => write!(f, "STATS reply truncated ({got} bytes)"),
            StatsError::UnknownVersion(v) => write!(f, "STATS reply has unknown version {v}"),
            StatsError::BadSize(s) => write!(f, "STATS reply claims size {s}"),
            StatsError::UnknownFrontEnd(n) => {
                write!(f, "STATS reply names an unknown driver front end ({n})")
            }
        }
    }
}

impl DriverStats {
    /// A reply for this driver build, with the counters given.
    pub const fn new(
        driver_version: DriverVersion,
        open_handles: u64,
        pool_bytes: u64,
        sockets: SocketCounters,
    ) -> Self {
        DriverStats {
            size: STATS_SIZE,
            version: STATS_VERSION,
            driver_version,
            open_handles,
            pool_bytes,
            sockets: sockets.sockets,
            bound_names: sockets.bound_names,
            bytes_buffered: sockets.bytes_buffered,
            pending_irps: sockets.pending_irps,
            max_sockets: sockets.max_sockets,
            max_bytes_buffered: sockets.max_bytes_buffered,
        }
    }

    /// Decodes and checks a reply received from the driver.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatsError> {
        let (stats, _rest) = DriverStats::read_from_prefix(bytes)
            .map_err(|_| StatsError::Truncated { got: bytes.len() })?;
        if stats.version != STATS_VERSION {
            return Err(StatsError::UnknownVersion(stats.version));
        }
        if stats.size != STATS_SIZE {
            return Err(StatsError::BadSize(stats.size));
        }
        if !matches!(
            stats.driver_version.front_end,
            FRONT_END_WDM | FRONT_END_KMDF
        ) {
            return Err(StatsError::UnknownFrontEnd(stats.driver_version.front_end));
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DriverStats {
        let sockets = SocketCounters {
            sockets: 3,
            pending_irps: 2,
            ..SocketCounters::default()
        };
        DriverStats::new(
            DriverVersion::from_parts("1", "22", "333"),
            7,
            4096,
            sockets,
        )
    }

    #[test]
    fn round_trips_through_bytes() {
        let s = sample();
        assert_eq!(DriverStats::decode(s.as_bytes()), Ok(s));
    }

    #[test]
    fn version_parses_at_compile_time() {
        const V: DriverVersion = DriverVersion::from_parts("0", "10", "65535");
        assert_eq!((V.major, V.minor, V.patch), (0, 10, 65535));
        assert_displays(V, "0.10.65535");
    }

    /// Display without alloc: render into a fixed buffer and compare.
    #[track_caller]
    fn assert_displays(v: DriverVersion, expected: &str) {
        struct W([u8; 32], usize);
        impl core::fmt::Write for W {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                self.0[self.1..self.1 + s.len()].copy_from_slice(s.as_bytes());
                self.1 += s.len();
                Ok(())
            }
        }
        let mut w = W([0; 32], 0);
        core::fmt::write(&mut w, format_args!("{v}")).unwrap();
        assert_eq!(&w.0[..w.1], expected.as_bytes());
    }

    #[test]
    fn refuses_truncated_replies() {
        let s = sample();
        for len in 0..size_of::<DriverStats>() {
            assert_eq!(
                DriverStats::decode(&s.as_bytes()[..len]),
                Err(StatsError::Truncated { got: len })
            );
        }
    }

    #[test]
    fn refuses_other_versions_and_sizes() {
        // Version 1 (no socket counters) and a future version 3 are both refused.
        for version in [1, 3] {
            let mut s = sample();
            s.version = version;
            assert_eq!(
                DriverStats::decode(s.as_bytes()),
                Err(StatsError::UnknownVersion(version))
            );
        }
        let mut s = sample();
        s.size = 24;
        assert_eq!(
            DriverStats::decode(s.as_bytes()),
            Err(StatsError::BadSize(24))
        );
        let mut s = sample();
        s.driver_version.front_end = FRONT_END_KMDF;
        assert_eq!(
            DriverStats::decode(s.as_bytes()).map(|d| d.driver_version.framework()),
            Ok("KMDF")
        );
        s.driver_version.front_end = 2;
        assert_eq!(
            DriverStats::decode(s.as_bytes()),
            Err(StatsError::UnknownFrontEnd(2))
        );
    }
}
