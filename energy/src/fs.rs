//! The file access every energy source goes through, behind the [`Fs`] trait so that tests can
//! run the sources on fake trees and inject failures (a permission denial in particular, which
//! `chmod 000` cannot produce when the tests run as root).
//!
//! To extend: add a method here only when a source needs a new kind of access; keep [`RealFs`]
//! a thin pass-through to `std::fs`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Reads files and directories. Errors keep the `io::ErrorKind` of the underlying failure
/// (`NotFound`, `PermissionDenied`, …): the sources turn those into reasons and fixes.
pub trait Fs: Send + Sync + fmt::Debug {
    /// The whole file as text.
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
    /// Eight bytes at `offset`, little-endian (an MSR read from `/dev/cpu/N/msr`).
    fn read_u64_at(&self, path: &Path, offset: u64) -> io::Result<u64>;
    /// The entries of a directory, sorted by path.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Whether anything (file, directory, device) is at `path`.
    fn exists(&self, path: &Path) -> bool;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl Fs for RealFs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn read_u64_at(&self, path: &Path, offset: u64) -> io::Result<u64> {
        let file = std::fs::File::open(path)?;
        let mut buf = [0u8; 8];
        read_exact_at(&file, &mut buf, offset)?;
        Ok(u64::from_le_bytes(buf))
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut v = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()?;
        v.sort();
        Ok(v)
    }

    fn exists(&self, path: &Path) -> bool {
        path.symlink_metadata().is_ok()
    }
}

#[cfg(unix)]
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// Reads a file holding one unsigned integer (sysfs style, trailing newline allowed).
pub fn read_u64(fs: &dyn Fs, path: &Path) -> io::Result<u64> {
    let s = fs.read_to_string(path)?;
    s.trim().parse::<u64>().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: `{}` is not an unsigned integer: {e}",
                path.display(),
                s.trim()
            ),
        )
    })
}

/// Reads a one-line text file, trimmed.
pub fn read_trimmed(fs: &dyn Fs, path: &Path) -> io::Result<String> {
    Ok(fs.read_to_string(path)?.trim().to_string())
}

/// Parses a kernel CPU list (`0-3,8,10-11`), as in `cpumask` and `online` files.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?);
                if b < a {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-3,8\n"), Some(vec![0, 1, 2, 3, 8]));
        assert_eq!(parse_cpu_list("0,18"), Some(vec![0, 18]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn real_fs_reads_u64_at_offset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("msr");
        let mut bytes = vec![0u8; 24];
        bytes[8..16].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(RealFs.read_u64_at(&p, 8).unwrap(), 0x1122_3344_5566_7788);
        // Past the end: an error, never a zero.
        assert!(RealFs.read_u64_at(&p, 20).is_err());
        assert!(read_u64(&RealFs, &p).is_err());
    }
}
