//! The per-stream latency target (`--slo`) and the batch it allows: pure functions.
//!
//! A server decoding B streams at once makes B times the tokens of one stream per weight pass,
//! but each stream gets only its share: batching buys throughput with per-stream latency. So an
//! instance is sized from the throughput of the largest batch whose streams still meet the
//! target, never from the maximum batch. The target is either a per-stream decode rate (tokens/s
//! each user sees) or a 99th-percentile time per output token. The default is human reading
//! speed (see [`DEFAULT_SOURCE`]): text that streams faster than it is read buys the user
//! nothing.

use serde::Serialize;

/// Default per-stream decode rate, tokens/s.
pub const DEFAULT_STREAM_TPS: f64 = 5.0;

/// Where the default comes from.
pub const DEFAULT_SOURCE: &str = "human reading speed: about 238 words/min for silent reading of \
     non-fiction (Brysbaert 2019, \"How many words do we read per minute?\", Journal of Memory \
     and Language 109, 104047) at about 1.3 tokens per word (OpenAI's tokenizer guidance: a \
     token is about 3/4 of an English word) is about 5.2 tokens/s; the bitnet.cpp README puts \
     human reading at 5-7 tokens/s";

/// A per-stream latency target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Slo {
    /// Each stream decodes at least this many tokens/s.
    StreamTokensPerS(f64),
    /// The 99th percentile of a stream's time per output token is at most this many ms.
    P99MsPerToken(f64),
}

impl Default for Slo {
    fn default() -> Slo {
        Slo::StreamTokensPerS(DEFAULT_STREAM_TPS)
    }
}

/// One way to run the same model: a batch size and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Streams decoded together (GPU rows: the published concurrency).
    pub batch: usize,
    /// Aggregate decode tokens/s over all streams.
    pub aggregate_tps: f64,
    /// Decode tokens/s of each stream.
    pub per_stream_tps: f64,
    /// 99th percentile time per output token, ms (`None`: not measured).
    pub p99_ms: Option<f64>,
    /// A mean or median time per output token, ms, used against a p99 target only when no p99
    /// exists (published GPU figures give a mean inter-token latency), and said so.
    pub typical_ms: Option<f64>,
    /// Where the figures come from (a cell id, a catalogue row).
    pub label: String,
}

/// What [`choose`] decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// Index of the chosen candidate.
    pub index: usize,
    /// Every candidate's label, whether it met the target, and its figure, in the order given.
    pub verdicts: Vec<(String, bool, String)>,
    /// Caveats (a mean latency compared with a p99 target).
    pub notes: Vec<String>,
}

/// Why [`choose`] found nothing to size from.
#[derive(Debug, Clone, PartialEq)]
pub enum Miss {
    /// Every candidate misses the target (the message names each one's figure).
    NoneMeets(String),
    /// A candidate lacks the figure the target needs, or there are none.
    NoFigure(String),
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::NoneMeets(s) | Miss::NoFigure(s) => f.write_str(s),
        }
    }
}

impl Candidate {
    /// `batch 8`, or the label of a candidate without a batch size (a published load level).
    pub fn name(&self) -> String {
        if self.batch > 0 {
            format!("batch {}", self.batch)
        } else {
            self.label.clone()
        }
    }
}

impl Slo {
    /// Parses `--slo`: `5`, `5tok/s` or `5 tokens/s` (per-stream rate); `p99=200ms`,
    /// `p99:200ms` or `200ms` (p99 time per token).
    pub fn parse(s: &str) -> Result<Slo, String> {
        let t = s.trim().to_ascii_lowercase().replace(' ', "");
        let bad = || {
            format!(
                "--slo {s}: expected a per-stream rate (\"5\", \"5tok/s\") or a p99 time per \
                 token (\"p99=200ms\", \"200ms\"), a finite number > 0"
            )
        };
        let num = |x: &str| -> Result<f64, String> {
            x.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(bad)
        };
        let ms = t
            .strip_prefix("p99=")
            .or_else(|| t.strip_prefix("p99:"))
            .unwrap_or(&t);
        if let Some(v) = ms.strip_suffix("ms") {
            return Ok(Slo::P99MsPerToken(num(v)?));
        }
        if t.starts_with("p99") {
            return Err(bad());
        }
        let rate = ["tokens/s", "tok/s", "t/s"]
            .iter()
            .find_map(|u| t.strip_suffix(u))
            .unwrap_or(&t);
        Ok(Slo::StreamTokensPerS(num(rate)?))
    }

    /// `≥ 5 tokens/s per stream` or `p99 ≤ 200 ms per token`.
    pub fn describe(&self) -> String {
        match self {
            Slo::StreamTokensPerS(v) => format!("≥ {v} tokens/s per stream"),
            Slo::P99MsPerToken(v) => format!("p99 ≤ {v} ms per output token"),
        }
    }

    /// Whether `c` meets the target, a few words why, and a note when the comparison is not
    /// like for like; an error when `c` lacks the figure the target needs.
    pub fn judge(&self, c: &Candidate) -> Result<(bool, String, Option<String>), String> {
        match *self {
            Slo::StreamTokensPerS(min) => Ok((
                c.per_stream_tps >= min,
                format!("{:.2} tokens/s per stream", c.per_stream_tps),
                None,
            )),
            Slo::P99MsPerToken(max) => match (c.p99_ms, c.typical_ms) {
                (Some(p), _) => Ok((p <= max, format!("p99 {p:.1} ms per token"), None)),
                (None, Some(m)) => Ok((
                    m <= max,
                    format!("{m:.1} ms per token (mean)"),
                    Some(format!(
                        "{}: only a mean time per token is published; it is held to the p99 \
                         target, which flatters it",
                        c.label
                    )),
                )),
                (None, None) => Err(format!(
                    "{}: no per-token latency figure to hold to the p99 target; use a per-stream \
                     rate target (--slo 5tok/s)",
                    c.label
                )),
            },
        }
    }
}

/// The candidate to size from: of those meeting `slo`, the one with the highest aggregate
/// tokens/s (the largest such batch, normally; on a tie the larger batch). When none meets the
/// target the error names every candidate's figure.
pub fn choose(cands: &[Candidate], slo: &Slo) -> Result<Choice, Miss> {
    if cands.is_empty() {
        return Err(Miss::NoFigure("no decode figure to size from".into()));
    }
    let mut verdicts = Vec::with_capacity(cands.len());
    let mut notes = Vec::new();
    let mut best: Option<usize> = None;
    for (i, c) in cands.iter().enumerate() {
        let (ok, why, note) = slo.judge(c).map_err(Miss::NoFigure)?;
        notes.extend(note);
        verdicts.push((c.name(), ok, why));
        if ok {
            let better = best.is_none_or(|b| {
                let o = &cands[b];
                c.aggregate_tps > o.aggregate_tps
                    || (c.aggregate_tps == o.aggregate_tps && c.batch > o.batch)
            });
            if better {
                best = Some(i);
            }
        }
    }
    notes.dedup();
    match best {
        Some(index) => Ok(Choice {
            index,
            verdicts,
            notes,
        }),
        None => Err(Miss::NoneMeets(format!(
            "no batch meets the latency target {}: {}",
            slo.describe(),
            verdicts
                .iter()
                .map(|(b, _, why)| format!("{b}: {why}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The candidate with the fastest streams (the smallest batch, normally), for a deployment no
/// batch of which meets the target: it is sized there and labelled as missing the target.
pub fn fastest_stream(cands: &[Candidate]) -> Option<usize> {
    (0..cands.len()).max_by(|&a, &b| {
        let (x, y) = (&cands[a], &cands[b]);
        x.per_stream_tps
            .total_cmp(&y.per_stream_tps)
            .then(x.aggregate_tps.total_cmp(&y.aggregate_tps))
    })
}

/// One line on a choice: `batch 8, the largest meeting ≥ 5 tokens/s per stream (batch 1: 17.00
/// tokens/s per stream meets; …; batch 16: 3.44 tokens/s per stream misses)`.
pub fn summary(cands: &[Candidate], choice: &Choice, slo: &Slo) -> String {
    format!(
        "{}, the largest meeting {} ({})",
        cands[choice.index].name(),
        slo.describe(),
        choice
            .verdicts
            .iter()
            .map(|(b, ok, why)| format!("{b}: {why} {}", if *ok { "meets" } else { "misses" }))
            .collect::<Vec<_>>()
            .join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(batch: usize, aggregate: f64, p99: Option<f64>) -> Candidate {
        Candidate {
            batch,
            aggregate_tps: aggregate,
            per_stream_tps: aggregate / batch as f64,
            p99_ms: p99,
            typical_ms: None,
            label: format!("b{batch}"),
        }
    }

    /// A CPU sweep by hand: per-stream 17, 15, 12.5, 6.25, 3.4375 tokens/s.
    fn sweep() -> Vec<Candidate> {
        vec![
            cand(1, 17.0, Some(62.0)),
            cand(2, 30.0, Some(70.0)),
            cand(4, 50.0, Some(85.0)),
            cand(8, 50.0 * 1.0, Some(170.0)),
            cand(16, 55.0, Some(310.0)),
        ]
    }

    #[test]
    fn parses_rates_and_p99_times() {
        assert_eq!(Slo::parse("5").unwrap(), Slo::StreamTokensPerS(5.0));
        assert_eq!(Slo::parse("7.5 tok/s").unwrap(), Slo::StreamTokensPerS(7.5));
        assert_eq!(
            Slo::parse("10tokens/s").unwrap(),
            Slo::StreamTokensPerS(10.0)
        );
        assert_eq!(Slo::parse("p99=200ms").unwrap(), Slo::P99MsPerToken(200.0));
        assert_eq!(Slo::parse("P99:50 ms").unwrap(), Slo::P99MsPerToken(50.0));
        assert_eq!(Slo::parse("120ms").unwrap(), Slo::P99MsPerToken(120.0));
        for bad in ["", "0", "-3", "fast", "p99=", "p99=5", "nan", "inf ms"] {
            let e = Slo::parse(bad).unwrap_err();
            assert!(e.contains("--slo") && e.contains("p99=200ms"), "{bad}: {e}");
        }
        assert_eq!(Slo::default(), Slo::StreamTokensPerS(5.0));
    }

    #[test]
    fn per_stream_target_picks_the_best_batch_that_meets_it() {
        // 5 tok/s per stream: batches 1 (17), 2 (15), 4 (12.5), 8 (6.25) meet, 16 (3.44) misses;
        // 4 and 8 tie on 50 aggregate: the larger batch.
        let c = choose(&sweep(), &Slo::StreamTokensPerS(5.0)).unwrap();
        assert_eq!(c.index, 3);
        assert_eq!(
            c.verdicts.iter().map(|v| v.1).collect::<Vec<_>>(),
            [true, true, true, true, false]
        );
        // 13 tok/s per stream: only 1 and 2 meet; 2 has the higher aggregate (30).
        assert_eq!(
            choose(&sweep(), &Slo::StreamTokensPerS(13.0))
                .unwrap()
                .index,
            1
        );
        // Exactly on the target meets it: 12.5 at batch 4.
        assert_eq!(
            choose(&sweep(), &Slo::StreamTokensPerS(12.5))
                .unwrap()
                .index,
            2
        );
        // 3 tok/s: every batch meets; 16 has the most (55).
        assert_eq!(
            choose(&sweep(), &Slo::StreamTokensPerS(3.0)).unwrap().index,
            4
        );
    }

    #[test]
    fn p99_target_and_none_meeting() {
        // p99 ≤ 100 ms: batches 1, 2, 4 meet; 4 has the most (50).
        assert_eq!(
            choose(&sweep(), &Slo::P99MsPerToken(100.0)).unwrap().index,
            2
        );
        let e = choose(&sweep(), &Slo::StreamTokensPerS(20.0)).unwrap_err();
        assert!(
            e.to_string().contains("≥ 20 tokens/s per stream")
                && e.to_string().contains("batch 1: 17.00 tokens/s")
                && matches!(e, Miss::NoneMeets(_)),
            "{e}"
        );
        let e = choose(&sweep(), &Slo::P99MsPerToken(10.0)).unwrap_err();
        assert!(e.to_string().contains("batch 16: p99 310.0 ms"), "{e}");
        assert_eq!(fastest_stream(&sweep()), Some(0));
        // No latency figure at all against a p99 target: an error naming the candidate.
        let e = choose(&[cand(8, 40.0, None)], &Slo::P99MsPerToken(100.0)).unwrap_err();
        assert!(
            matches!(&e, Miss::NoFigure(m) if m.contains("b8") && m.contains("--slo 5tok/s")),
            "{e}"
        );
        // A mean latency stands in for the p99, with a note.
        let mut gpu = cand(64, 6000.0, None);
        gpu.typical_ms = Some(39.0);
        let c = choose(&[gpu], &Slo::P99MsPerToken(50.0)).unwrap();
        assert!(c.notes[0].contains("only a mean"), "{:?}", c.notes);
    }
}
