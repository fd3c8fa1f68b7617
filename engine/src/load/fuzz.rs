//! Entry points shared by the cargo-fuzz targets (`fuzz/`, nightly) and the proptest runs in
//! `engine/tests/load_fuzz.rs` (stable): each takes arbitrary bytes, must never panic, and
//! asserts what a successful parse promises. To fuzz a new parser, add a function here, a target
//! in `fuzz/fuzz_targets/` and a proptest case.

use std::path::Path;

use super::{gguf, hf, safetensors};

/// GGUF header: an error, or tensors (of known size) that lie inside `data`.
pub fn gguf_header(data: &[u8]) {
    if let Ok(h) = gguf::parse(data, Path::new("fuzz.gguf")) {
        assert!(h.data_start.is_multiple_of(h.alignment));
        for t in &h.tensors {
            let end = t.offset + t.bytes.unwrap_or(0);
            assert!(end <= data.len() as u64, "tensor {} ends at {end}", t.name);
            assert!(!t.dims.is_empty() && t.dims.len() <= gguf::MAX_DIMS as usize);
        }
    }
}

/// safetensors header: an error, or tensors inside `data` that do not overlap.
pub fn safetensors_header(data: &[u8]) {
    if let Ok(h) = safetensors::parse_header(data, Path::new("fuzz.safetensors")) {
        let mut spans: Vec<(usize, usize)> = h.tensors.values().map(|t| (t.start, t.end)).collect();
        spans.sort();
        for &(a, b) in &spans {
            assert!(a <= b && h.data_start + b <= data.len());
        }
        for w in spans.windows(2) {
            assert!(w[0].1 <= w[1].0 || w[0].0 == w[0].1 || w[1].0 == w[1].1);
        }
    }
}

/// `config.json`: an error, or a config that passed validation.
pub fn hf_config(data: &[u8]) {
    if let Ok(c) = hf::parse_config(data, Path::new("config.json"), "fuzz") {
        assert!(c.cfg.hidden > 0 && c.cfg.hidden.is_multiple_of(c.cfg.heads));
    }
}
