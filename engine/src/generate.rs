//! Prompt → tokens, with the timings a benchmark needs: prefill time (and tokens/s), time to
//! first token, per-token decode latencies, decode tokens/s.

use std::time::Instant;

use crate::error::EngineError;
use crate::linear::Exec;
use crate::model::{Logits, Model, Session};
use crate::sampler::Sampler;

/// What one generation measured.
#[derive(Clone, Debug, Default)]
pub struct GenStats {
    /// Prompt length.
    pub prompt_tokens: usize,
    /// Seconds to run the prompt (prefill) and produce the first token's logits.
    pub prefill_s: f64,
    /// Tokens generated.
    pub generated: Vec<u32>,
    /// Seconds of each decode step (one per generated token after the first).
    pub decode_step_s: Vec<f64>,
    /// Whether generation stopped on an end-of-sequence token.
    pub hit_eos: bool,
}

impl GenStats {
    /// Prompt tokens per second.
    pub fn prefill_tps(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_s
    }
    /// Total decode seconds.
    pub fn decode_s(&self) -> f64 {
        self.decode_step_s.iter().sum()
    }
    /// Decode tokens per second (steps after the first token).
    pub fn decode_tps(&self) -> f64 {
        self.decode_step_s.len() as f64 / self.decode_s()
    }
    /// Time to first token: prefill plus choosing the token.
    pub fn ttft_s(&self) -> f64 {
        self.prefill_s
    }
}

/// Runs `prompt` then generates up to `max_new` tokens (stopping early on an end-of-sequence id
/// when `stop_at_eos`), calling `on_token` for each as it is chosen.
#[allow(clippy::too_many_arguments)]
pub fn generate(
    model: &Model,
    ex: Exec<'_>,
    session: &mut Session,
    prompt: &[u32],
    max_new: usize,
    sampler: &mut Sampler,
    stop_at_eos: bool,
    mut on_token: impl FnMut(u32),
) -> Result<GenStats, EngineError> {
    let mut st = GenStats {
        prompt_tokens: prompt.len(),
        ..GenStats::default()
    };
    if prompt.is_empty() {
        return Err(EngineError::BadConfig {
            model: model.weights.cfg.name.clone(),
            key: "prompt",
            value: "[]".into(),
            reason: "at least one prompt token is needed".into(),
        });
    }
    let eos = &model.weights.cfg.eos;
    let t0 = Instant::now();
    let logits = model.forward(ex, session, prompt, Logits::Last)?;
    let mut next = sampler.sample(&logits);
    st.prefill_s = t0.elapsed().as_secs_f64();
    for i in 0..max_new {
        st.generated.push(next);
        on_token(next);
        if stop_at_eos && eos.contains(&next) {
            st.hit_eos = true;
            break;
        }
        if i + 1 == max_new {
            break;
        }
        let t = Instant::now();
        let logits = model.forward(ex, session, &[next], Logits::Last)?;
        next = sampler.sample(&logits);
        st.decode_step_s.push(t.elapsed().as_secs_f64());
    }
    Ok(st)
}
