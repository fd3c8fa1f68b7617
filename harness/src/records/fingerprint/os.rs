//! Operating-system facts: memory size (`/proc/meminfo`), load average (`/proc/loadavg`),
//! kernel release and version (`/proc/sys/kernel/{osrelease,version}`, what `uname -r` and
//! `uname -v` print), the distribution (`/etc/os-release`), and the RFC 3339 timestamp.
//!
//! Parsers take text and readers take a root, so tests need no real `/proc`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::sysfs::read_trim;

/// `MemTotal` of `/proc/meminfo` text, bytes.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("MemTotal:")?;
        let mut it = rest.split_whitespace();
        let n: u64 = it.next()?.parse().ok()?;
        match it.next() {
            Some("kB") => Some(n * 1024),
            None => Some(n),
            Some(_) => None,
        }
    })
}

/// The 1, 5 and 15 minute load averages of `/proc/loadavg` text.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|w| w.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// `PRETTY_NAME` of `os-release` text, else `NAME` and `VERSION`; quotes removed.
pub fn parse_os_release(text: &str) -> Option<String> {
    let get = |key: &str| {
        text.lines().find_map(|l| {
            let v = l.trim().strip_prefix(key)?.strip_prefix('=')?;
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
            (!v.is_empty()).then(|| v.to_string())
        })
    };
    get("PRETTY_NAME").or_else(|| match (get("NAME"), get("VERSION")) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (n, _) => n,
    })
}

/// `<proc>/meminfo` `MemTotal`, bytes.
pub fn memory_bytes(proc_dir: &Path) -> Option<u64> {
    parse_meminfo_total(&std::fs::read_to_string(proc_dir.join("meminfo")).ok()?)
}

/// `<proc>/loadavg`.
pub fn loadavg(proc_dir: &Path) -> Option<[f64; 3]> {
    parse_loadavg(&std::fs::read_to_string(proc_dir.join("loadavg")).ok()?)
}

/// `<proc>/sys/kernel/osrelease` and `<proc>/sys/kernel/version`.
pub fn kernel(proc_dir: &Path) -> (Option<String>, Option<String>) {
    let k = proc_dir.join("sys/kernel");
    (
        read_trim(&k.join("osrelease")),
        read_trim(&k.join("version")),
    )
}

/// `<etc>/os-release`, the distribution's name.
pub fn os_name(etc_dir: &Path) -> Option<String> {
    parse_os_release(&std::fs::read_to_string(etc_dir.join("os-release")).ok()?)
}

/// `t` as RFC 3339 UTC with whole seconds, e.g. `2026-05-01T12:34:56Z` (times before 1970
/// print as the epoch).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn meminfo() {
        let t = "MemTotal:       24684084 kB\nMemFree:        15462440 kB\n";
        assert_eq!(parse_meminfo_total(t), Some(24_684_084 * 1024));
        assert_eq!(parse_meminfo_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_meminfo_total("MemTotal: x kB\n"), None);
    }

    #[test]
    fn loadavg_parses() {
        assert_eq!(
            parse_loadavg("1.55 1.69 1.70 1/84 20254\n"),
            Some([1.55, 1.69, 1.70])
        );
        assert_eq!(parse_loadavg("1.0 2.0"), None);
        assert_eq!(parse_loadavg(""), None);
    }

    #[test]
    fn os_release() {
        let t = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(t).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            parse_os_release("NAME=Alpine\nVERSION='3.20'\n").as_deref(),
            Some("Alpine 3.20")
        );
        assert_eq!(parse_os_release("ID=x\n"), None);
        // A key that only starts like PRETTY_NAME is not it.
        assert_eq!(
            parse_os_release("PRETTY_NAMES=no\nNAME=Arch\n").as_deref(),
            Some("Arch")
        );
    }

    #[test]
    fn missing_files_are_none() {
        let p = Path::new("/nonexistent/ternbench");
        assert_eq!(memory_bytes(p), None);
        assert_eq!(loadavg(p), None);
        assert_eq!(kernel(p), (None, None));
        assert_eq!(os_name(p), None);
    }

    #[test]
    fn timestamps() {
        let at = |s: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }
}
