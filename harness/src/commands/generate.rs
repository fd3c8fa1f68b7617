//! `ternbench generate`: generate tokens with the BitNet engine (or its FP16 twin) and report
//! prefill and decode speed. `--prompt` needs a checkpoint with a `tokenizer.json`, or a GGUF
//! file whose embedded vocabulary ternbench reads (byte-level BPE or SentencePiece).

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use ternbench_engine::kernels::{Pinning, ThreadPool};
use ternbench_engine::load::tokenizer::Tokenizer;
use ternbench_engine::{generate, model::exec, KvType, Sampler};

use crate::cli::GenerateArgs;
use crate::commands::{parse_tokens, sampled_note, synthetic_note};
use crate::error::usage;
use crate::plan::model::{build, engine_label, is_checkpoint, kernel_set, model_config, ModelPlan};

/// `ternbench generate`.
pub fn run(a: &GenerateArgs) -> Result<()> {
    let checkpoint = is_checkpoint(&a.model);
    if a.prompt.is_some() && !checkpoint {
        return Err(usage(
            "--prompt needs a tokenizer, which synthetic models do not have; pass --tokens 1,2,3",
        ));
    }
    let cfg = model_config(&a.model)?;
    // A checkpoint's tokenizer (tokenizer.json, or a GGUF's embedded vocabulary) encodes
    // --prompt and, when there is one, decodes the output.
    let tokenizer = if checkpoint {
        match Tokenizer::for_checkpoint(std::path::Path::new(&a.model)) {
            Ok(t) => Some(t),
            Err(e) if a.prompt.is_some() => return Err(usage(e.to_string())),
            Err(_) => None,
        }
    } else {
        None
    };
    let threads = a.threads as usize;
    crate::commands::check_threads(&[threads], &a.thread_opts, "-t")?;
    let pool = ThreadPool::new(threads, Pinning::None);
    let ks = kernel_set(a.opts.isa)?;
    let prompt = match (&a.prompt, &tokenizer) {
        (Some(text), Some(t)) => {
            let ids = t.encode(text)?;
            if ids.is_empty() {
                return Err(usage("--prompt: the text encodes to no tokens"));
            }
            if let Some(&bad) = ids.iter().find(|&&i| i as usize >= cfg.vocab) {
                return Err(usage(format!(
                    "--prompt: the tokenizer produced id {bad}, outside the model's vocabulary ({}); is the tokenizer this model's?",
                    cfg.vocab
                )));
            }
            ids
        }
        _ => {
            let tokens_arg = a.tokens.as_deref().ok_or_else(|| {
                usage("give --tokens 1,2,3 (or --prompt TEXT for a checkpoint with a tokenizer)")
            })?;
            parse_tokens(tokens_arg, cfg.vocab)?
        }
    };
    let plan = ModelPlan {
        name: &a.model,
        engine: a.engine,
        format: a.opts.weight_format,
        head: a.opts.head,
        seed: a.opts.seed,
        sample_layers: a.sample_layers,
        kv: KvType::F32,
        context: 0,
    };
    let context = prompt.len() + a.max_tokens;
    if context > cfg.max_positions {
        return Err(usage(format!(
            "prompt ({}) + --max-tokens ({}) exceeds the model's context of {} positions",
            prompt.len(),
            a.max_tokens,
            cfg.max_positions
        )));
    }
    let t0 = Instant::now();
    let model = build(&ModelPlan { context, ..plan }, &pool, threads)?;
    let load_s = t0.elapsed().as_secs_f64();
    let fmt = model.weights.linear_format();
    eprintln!(
        "model {} ({}, head {}, {} threads, {}) built in {load_s:.2} s{}",
        a.model,
        engine_label(a.engine, fmt),
        model.weights.head_format(),
        threads,
        ks.isa,
        sampled_note(&model)
    );
    if let Some(note) = synthetic_note(&a.model) {
        eprintln!("{note}");
    }
    let formats = [fmt, model.weights.head_format()];
    let prefetch =
        crate::measure::prefetch::for_formats(a.opts.prefetch, &formats, ks, &pool, &[threads])?;
    for l in prefetch.summary() {
        eprintln!("{l}");
    }
    prefetch.apply(ks.isa, threads);
    let mut session = model.session(context, KvType::F32)?;
    let mut sampler = if a.temperature > 0.0 {
        Sampler::new(a.temperature, a.top_k, a.top_p, a.opts.seed)
    } else {
        Sampler::greedy()
    };
    let mut out = std::io::stdout().lock();
    // With a tokenizer, print the text as it grows (decoding everything so far, so multi-token
    // characters come out whole); without one, the ids.
    let (mut generated, mut printed) = (Vec::new(), 0usize);
    let st = generate(
        &model,
        exec(ks, &pool, threads),
        &mut session,
        &prompt,
        a.max_tokens,
        &mut sampler,
        true,
        |t| {
            match &tokenizer {
                Some(tok) => {
                    generated.push(t);
                    if let Ok(text) = tok.decode(&generated) {
                        if let Some(new) = text.get(printed..) {
                            let _ = write!(out, "{new}");
                            printed = text.len();
                        }
                    }
                }
                None => {
                    let _ = write!(out, "{t} ");
                }
            }
            let _ = out.flush();
        },
    )?;
    drop(out);
    println!();
    let scale = model.weights.cfg.layers as f64 / model.weights.layers.len() as f64;
    eprintln!(
        "prefill: {} tokens in {:.3} s = {:.2} tokens/s; decode: {} tokens, {:.2} tokens/s; time to first token {:.3} s",
        st.prompt_tokens,
        st.prefill_s,
        st.prefill_tps(),
        st.decode_step_s.len(),
        st.decode_tps(),
        st.ttft_s()
    );
    if model.weights.is_sampled() {
        eprintln!(
            "SAMPLED ESTIMATE for all {} layers (whole decode step scaled by {scale:.2}, the LM head and embedding share scaled too, so the estimate errs slow): decode ≈ {:.3} tokens/s",
            model.weights.cfg.layers,
            1.0 / (st.decode_s() / st.decode_step_s.len().max(1) as f64 * scale)
        );
    }
    Ok(())
}
