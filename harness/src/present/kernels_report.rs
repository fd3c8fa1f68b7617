//! The output side of `ternbench kernels`: the row each cell becomes (its JSON schema), the
//! run's summary lines, the aligned text table, and the `--out` files.
//!
//! ## JSON (`-o json` on stdout, `kernels.json` with `--out`)
//! One JSON **array** of row objects, one per cell, each self-contained:
//!
//! | field | meaning |
//! |---|---|
//! | `format`, `isa`, `op`, `shape` | the cell (`shape`: qo, kv, gate_up, down, lm_head, stack, l2) |
//! | `status` | `ok`, or `no kernel` (the level lacks this format; figures null) |
//! | `rows`, `cols`, `batch`, `threads` | logical matrix shape, tokens per call, threads |
//! | `stack_matrices` | distinct matrices cycled through (1 unless `shape` is `stack`) |
//! | `weight_bytes` | bytes of one matrix's packed weights (one call reads them once) |
//! | `median_s`, `min_s` | seconds per call: median and fastest sample |
//! | `samples_s` | every sample, seconds per call (a sample averages consecutive calls) |
//! | `weight_gbps` | `weight_bytes / median_s / 1e9` |
//! | `bandwidth_start_gbps`, `bandwidth_end_gbps` | read bandwidth at this thread count before and after the sweep (fastest pass of the fastest method) |
//! | `bandwidth_gbps` | their mean; `bandwidth_method` says how it was read |
//! | `bandwidth_beside_gbps` | gemv: median of the read-bandwidth passes interleaved with this cell's timing rounds (`bandwidth_beside_samples_gbps`: one before the first round and one after each) |
//! | `bandwidth_ratio_rounds` | gemv: each round's weight GB/s over the mean of the bandwidth read just before and just after it |
//! | `bandwidth_ratio` | gemv: median over the rounds of (this round's `weight_gbps` / the mean of the bandwidth read just before and just after it), the drift-proof figure; other ops: `weight_gbps / bandwidth_gbps` (above 1 only when the weights fit in cache). On the `l2` shape (a matrix sized to half of each participating core's L2, rows set per thread count) this is the decode kernel's **compute headroom**: how far its arithmetic could outrun the memory (≥ 2 keeps the memory busy on a core half as fast) |
//! | `gops` | `rows * cols * batch / median_s / 1e9`: weight·activation products per second |
//! | `peak_gops`, `peak_instr` | gemm only: fastest run of this level's int8 (ternary, q8) or f32 FMA (f16) peak loop at this thread count, before or after the sweep |
//! | `peak_ratio` | gemm only: `gops / peak_gops` |
//! | `prefetch_bytes` | gemv of `i2`, `tq1`, `q4`, `f16` at a level with software prefetch: the distance this cell ran with (calibrated or `--prefetch`; 0: none), else null |
//! | `cpu` | the CPU model |

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::measure::bandwidth::Bandwidth;
use crate::measure::peak::Peak;
use crate::output::{fmt_opt, fmt_secs, Table};
use crate::records::machine;

/// One cell of the sweep (see the module doc for the JSON fields).
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub format: String,
    pub isa: String,
    pub op: String,
    pub shape: String,
    pub status: String,
    pub rows: usize,
    pub cols: usize,
    pub batch: usize,
    pub threads: usize,
    pub stack_matrices: usize,
    pub weight_bytes: Option<usize>,
    pub median_s: Option<f64>,
    pub min_s: Option<f64>,
    pub weight_gbps: Option<f64>,
    pub bandwidth_start_gbps: Option<f64>,
    pub bandwidth_end_gbps: Option<f64>,
    pub bandwidth_gbps: Option<f64>,
    pub bandwidth_method: Option<String>,
    pub bandwidth_beside_gbps: Option<f64>,
    pub bandwidth_beside_samples_gbps: Vec<f64>,
    pub bandwidth_ratio_rounds: Vec<f64>,
    pub bandwidth_ratio: Option<f64>,
    pub gops: Option<f64>,
    pub peak_gops: Option<f64>,
    pub peak_instr: Option<String>,
    pub peak_ratio: Option<f64>,
    pub samples_s: Vec<f64>,
    pub prefetch_bytes: Option<usize>,
    pub cpu: String,
}

/// Cells that beat a ceiling they cannot beat: a gemv over the out-of-cache stack streaming
/// faster than the read bandwidth, or any gemm above its arithmetic peak. Either means the
/// ceiling was measured low (or the machine drifted between the measurements).
pub fn ceiling_warnings(rows: &[Row]) -> Vec<String> {
    let mut w = Vec::new();
    for r in rows {
        let cell = format!(
            "{} {} {} {} at {} thread(s)",
            r.format, r.isa, r.op, r.shape, r.threads
        );
        if let (true, Some(ratio)) = (r.shape == "stack" && r.op == "gemv", r.bandwidth_ratio) {
            if ratio > 1.0 {
                w.push(format!(
                    "{cell} streamed {:.2} GB/s, {ratio:.2}x the measured read bandwidth",
                    r.weight_gbps.unwrap_or(f64::NAN)
                ));
            }
        }
        if let Some(ratio) = r.peak_ratio.filter(|&x| x > 1.0) {
            w.push(format!(
                "{cell} ran at {ratio:.2}x the measured arithmetic peak"
            ));
        }
    }
    w
}

/// One peak loop measured before and after the sweep.
#[derive(Clone, Debug)]
pub struct PeakPair {
    /// Before the sweep.
    pub start: Peak,
    /// After it.
    pub end: Peak,
}

impl PeakPair {
    /// The ceiling cells are held to: the fastest run of either measurement.
    pub fn max_gops(&self) -> f64 {
        self.start.max_gops.max(self.end.max_gops)
    }
}

/// The run's machine figures, for the text and Markdown headers.
pub struct Summary {
    pub cpu: String,
    pub llc: u64,
    pub bw_start: Vec<Bandwidth>,
    pub bw_end: Vec<Bandwidth>,
    pub peaks: Vec<PeakPair>,
    /// [`headroom_lines`] of the rows.
    pub headroom: Vec<String>,
    pub warnings: Vec<String>,
}

/// Headroom below which a decode kernel is flagged: on a core with half this one's arithmetic
/// it would no longer keep the memory busy.
pub const HEADROOM_AIM: f64 = 2.0;

/// One line per gemv cell on the L2-resident shape: its compute headroom (GB/s with the matrix
/// resident in L2 over the read bandwidth at the same thread count).
pub fn headroom_lines(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.op == "gemv" && r.shape == "l2")
        .filter_map(|r| {
            let h = r.bandwidth_ratio?;
            Some(format!(
                "Compute headroom {} {} gemv, {} thread(s): {h:.2} ({:.2} GB/s with {} KB resident \
                 in L2 over the read bandwidth){}",
                r.format,
                r.isa,
                r.threads,
                r.weight_gbps.unwrap_or(f64::NAN),
                r.weight_bytes.unwrap_or(0) / 1000,
                if h < HEADROOM_AIM {
                    format!("; below {HEADROOM_AIM}: compute-bound on a slower core")
                } else {
                    String::new()
                }
            ))
        })
        .collect()
}

impl Summary {
    /// One line per fact, each starting with `- ` (Markdown list; fine as text).
    fn lines(&self) -> Vec<String> {
        let mut v = vec![format!(
            "CPU: {} ({} logical CPUs), last-level cache {} MiB",
            self.cpu,
            machine::cores(),
            self.llc >> 20
        )];
        for (s, e) in self.bw_start.iter().zip(&self.bw_end) {
            v.push(format!(
                "Read bandwidth, {} thread(s): start {:.2}, end {:.2}, mean {:.2} GB/s \
                 (fastest pass; medians {:.2} / {:.2}; {} disturbed passes re-run); {}",
                s.threads,
                s.max_gbps,
                e.max_gbps,
                (s.max_gbps + e.max_gbps) / 2.0,
                s.median_gbps,
                e.median_gbps,
                s.methods.iter().map(|m| m.disturbed_passes).sum::<usize>() + e.disturbed_passes,
                s.method
            ));
        }
        for p in &self.peaks {
            let (s, e) = (&p.start, &p.end);
            v.push(format!(
                "Peak {} {}, {} thread(s): start {:.1}, end {:.1}, ceiling {:.1} Gprod/s \
                 (fastest run; medians {:.1} / {:.1}); {}",
                s.isa,
                s.kind,
                s.threads,
                s.max_gops,
                e.max_gops,
                p.max_gops(),
                s.median_gops,
                e.median_gops,
                s.instr
            ));
        }
        v.extend(self.headroom.iter().cloned());
        v.extend(self.warnings.iter().map(|w| format!("Warning: {w}")));
        v
    }

    pub fn text(&self) -> String {
        self.lines().iter().map(|l| format!("{l}\n")).collect()
    }
}

/// The human table of rows.
pub fn table(rows: &[Row]) -> Table {
    let mut t = Table::new(&[
        "format",
        "isa",
        "op",
        "shape",
        "batch",
        "threads",
        "time/call",
        "GB/s",
        "bw ratio",
        "Gprod/s",
        "peak ratio",
        "note",
    ]);
    for r in rows {
        let shape = if r.stack_matrices > 1 {
            format!("{}x{}", r.shape, r.stack_matrices)
        } else {
            r.shape.clone()
        };
        let note = if r.status == "ok" {
            String::new()
        } else {
            r.status.clone()
        };
        t.row(vec![
            r.format.clone(),
            r.isa.clone(),
            r.op.clone(),
            shape,
            r.batch.to_string(),
            r.threads.to_string(),
            r.median_s.map_or("-".into(), fmt_secs),
            fmt_opt(r.weight_gbps, 2),
            fmt_opt(r.bandwidth_ratio, 3),
            fmt_opt(r.gops, 2),
            fmt_opt(r.peak_ratio, 3),
            note,
        ]);
    }
    t
}

/// Writes `kernels.json` (the rows) and `kernels.md` (summary and table) into `dir`, each via a
/// temporary file renamed into place.
pub fn write_out(dir: &Path, rows: &[Row], summary: &Summary) -> Result<()> {
    let json = serde_json::to_string_pretty(rows)? + "\n";
    write_atomic(&dir.join("kernels.json"), &json)?;
    let mut md = String::from("# ternbench kernels\n\n");
    md += &format!(
        "Run {} by `ternbench {}` ({}).\n\n",
        utc_now(),
        std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        env!("CARGO_PKG_VERSION")
    );
    for l in summary.lines() {
        md += &format!("- {l}\n");
    }
    md += "\n";
    md += &table(rows).markdown();
    md += "\n`time/call`: median seconds per call. `GB/s`: packed weight bytes per second. \
           `bw ratio`: that over the read bandwidth at the same thread count; for gemv the \
           median over timing rounds each paired with the mean of the bandwidth passes just \
           before and just after it (the machine's bandwidth drifts within minutes), otherwise \
           over the mean of the start and end measurements; above 1 only when the weights stay in cache (the `stack` shape \
           reads from DRAM). `Gprod/s`: weight x activation products per second. `peak ratio` (gemm): \
           that over the level's int8 (ternary, q8) or f32 FMA (f16) peak at the same thread \
           count. `stackxN`: N distinct matrices cycled. `l2`: a matrix sized to half of each \
           participating core's L2 (rows per thread count); its gemv `bw ratio` is the compute \
           headroom.\n";
    write_atomic(&dir.join("kernels.md"), &md)?;
    eprintln!("wrote {}/kernels.json and kernels.md", dir.display());
    Ok(())
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// Now as RFC 3339 UTC (`2026-05-01T12:34:56Z`).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Unix seconds as RFC 3339 UTC (civil-from-days, proleptic Gregorian).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(op: &str, shape: &str, bw_ratio: Option<f64>, peak_ratio: Option<f64>) -> Row {
        Row {
            format: "i2".into(),
            isa: "avx2".into(),
            op: op.into(),
            shape: shape.into(),
            status: "ok".into(),
            rows: 6912,
            cols: 2560,
            batch: 1,
            threads: 2,
            stack_matrices: 30,
            weight_bytes: Some(4_423_680),
            median_s: Some(1e-4),
            min_s: Some(1e-4),
            weight_gbps: Some(44.2),
            bandwidth_start_gbps: Some(30.0),
            bandwidth_end_gbps: Some(30.0),
            bandwidth_gbps: Some(30.0),
            bandwidth_method: None,
            bandwidth_beside_gbps: None,
            bandwidth_beside_samples_gbps: Vec::new(),
            bandwidth_ratio_rounds: Vec::new(),
            bandwidth_ratio: bw_ratio,
            gops: Some(1.0),
            peak_gops: None,
            peak_instr: None,
            peak_ratio,
            samples_s: vec![1e-4],
            prefetch_bytes: None,
            cpu: "test".into(),
        }
    }

    #[test]
    fn beating_a_ceiling_is_flagged() {
        let rows = [
            row("gemv", "stack", Some(1.2), None),
            row("gemv", "stack", Some(0.9), None),
            row("gemv", "qo", Some(3.0), None),
            row("gemm", "kv", Some(0.1), Some(1.1)),
            row("gemm", "kv", Some(0.1), Some(0.7)),
        ];
        let w = ceiling_warnings(&rows);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("gemv stack") && w[0].contains("1.20x"),
            "{w:?}"
        );
        assert!(w[1].contains("gemm kv") && w[1].contains("peak"), "{w:?}");
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
    }
}
