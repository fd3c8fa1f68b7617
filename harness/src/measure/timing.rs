//! Timing loops and the statistics the commands report (median, max).
//!
//! [`time_calls`] is the one repetition policy of `ternbench kernels`: one untimed warm-up call,
//! then samples until both a minimum count and a minimum time are reached (or, for very slow
//! calls, a maximum time once three samples exist). A sample groups enough consecutive calls to
//! last about [`SAMPLE_TARGET_S`], so microsecond calls are not dominated by the clock, and
//! reports seconds per call.

use std::time::Instant;

/// Each sample lasts at least about this long (seconds), by grouping calls.
pub const SAMPLE_TARGET_S: f64 = 1e-3;

/// When to stop sampling one cell.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Minimum samples.
    pub min_reps: usize,
    /// Minimum total timed seconds.
    pub min_time: f64,
    /// Stop once this many seconds are timed and at least 3 samples (or `min_reps`, if
    /// fewer) exist.
    pub max_time: f64,
}

/// Times `call(i)` (with `i` counting calls from 0, warm-up included): returns seconds per
/// call, one value per sample.
pub fn time_calls(policy: Policy, mut call: impl FnMut(usize)) -> Vec<f64> {
    let mut next = 0usize;
    let t0 = Instant::now();
    call(next);
    next += 1;
    let warm = t0.elapsed().as_secs_f64();
    let group = if warm > 0.0 {
        ((SAMPLE_TARGET_S / warm).ceil() as usize).clamp(1, 1 << 20)
    } else {
        1 << 10
    };
    let mut samples = Vec::new();
    let mut timed = 0.0;
    loop {
        let enough = samples.len() >= policy.min_reps && timed >= policy.min_time;
        let too_long = samples.len() >= policy.min_reps.min(3) && timed >= policy.max_time;
        if enough || too_long {
            break;
        }
        let t = Instant::now();
        for _ in 0..group {
            call(next);
            next += 1;
        }
        let s = t.elapsed().as_secs_f64();
        timed += s;
        samples.push(s / group as f64);
    }
    samples
}

/// Median of `v` (mean of the middle two for an even count); NaN for an empty slice.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Largest value of `v`; NaN for an empty slice.
pub fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

/// Smallest value of `v`; NaN for an empty slice.
pub fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(max(&[1.0, 5.0, 2.0]), 5.0);
        assert_eq!(min(&[1.0, 5.0, 2.0]), 1.0);
    }

    #[test]
    fn time_calls_meets_count_and_counts_calls() {
        let mut calls = Vec::new();
        let s = time_calls(
            Policy {
                min_reps: 4,
                min_time: 0.0,
                max_time: 10.0,
            },
            |i| {
                calls.push(i);
                std::thread::sleep(std::time::Duration::from_millis(2));
            },
        );
        assert_eq!(s.len(), 4);
        assert!(s.iter().all(|&x| x >= 0.0015), "{s:?}");
        // Calls numbered 0.. without gaps (the warm-up is call 0).
        assert!(calls.iter().enumerate().all(|(k, &i)| k == i));
        assert_eq!(calls.len(), 5);
    }

    #[test]
    fn time_calls_stops_at_max_time() {
        let s = time_calls(
            Policy {
                min_reps: 1000,
                min_time: 0.0,
                max_time: 0.01,
            },
            |_| std::thread::sleep(std::time::Duration::from_millis(5)),
        );
        assert_eq!(s.len(), 3);
    }
}
