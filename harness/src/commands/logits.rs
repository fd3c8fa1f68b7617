//! `ternbench logits`: every position's logits for a token sequence, the hook for checking the
//! engine against other implementations.

use anyhow::Result;
use serde::Serialize;
use ternbench_engine::kernels::{Pinning, ThreadPool};
use ternbench_engine::{model::exec, KvType, Logits};

use crate::cli::LogitsArgs;
use crate::commands::parse_tokens;
use crate::plan::model::{build, kernel_set, model_config, ModelPlan};

/// `ternbench logits`.
pub fn run(a: &LogitsArgs) -> Result<()> {
    let threads = a.threads as usize;
    crate::commands::check_threads(&[threads], &a.thread_opts, "-t")?;
    let pool = ThreadPool::new(threads, Pinning::None);
    let ks = kernel_set(a.opts.isa)?;
    let cfg = model_config(&a.model)?;
    let tokens = parse_tokens(&a.tokens, cfg.vocab)?;
    let plan = ModelPlan {
        name: &a.model,
        engine: a.engine,
        format: a.opts.weight_format,
        head: a.opts.head,
        seed: a.opts.seed,
        sample_layers: None,
        kv: KvType::F32,
        context: tokens.len(),
    };
    let model = build(&plan, &pool, threads)?;
    if let crate::measure::prefetch::PrefetchArg::Fixed(b) = a.opts.prefetch {
        let fmts = [model.weights.linear_format(), model.weights.head_format()];
        crate::measure::prefetch::PrefetchPlan::fixed(b, &fmts, ks.isa, &[threads])
            .apply(ks.isa, threads);
    }
    let mut s = model.session(tokens.len(), KvType::F32)?;
    let logits = model.forward(exec(ks, &pool, threads), &mut s, &tokens, Logits::All)?;
    #[derive(Serialize)]
    struct Out<'a> {
        tokens: &'a [u32],
        logits: Vec<&'a [f32]>,
    }
    let out = Out {
        tokens: &tokens,
        logits: logits.chunks(cfg.vocab).collect(),
    };
    if a.output == crate::cli::TextOrJson::Json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for (p, row) in out.logits.iter().enumerate() {
            let best = ternbench_engine::sampler::argmax(row);
            println!(
                "position {p} (token {}): argmax {best} ({:.4})",
                tokens[p], row[best as usize]
            );
        }
    }
    Ok(())
}
