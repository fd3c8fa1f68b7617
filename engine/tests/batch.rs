//! Batched forward passes (`Model::forward_batch`, as llama.cpp's `llama-batched-bench` runs
//! them): several sequences, each with its own cache and position, in one pass. Each sequence
//! must get what it gets alone: bit for bit where the kernels are exact whatever the batch (the
//! ternary layers with a q8 head: integer sums, one shared epilogue), and within the f16 bound
//! where the f16 kernels' summation order changes from `gemv` to `gemm` (an f16 head, the FP16
//! twin).

use ternbench_engine::kernels::{Format, KernelSet, Pinning, ThreadPool};
use ternbench_engine::{
    synthetic, Activation, KvType, Logits, Model, ModelConfig, Session, SynthOptions,
};

fn tiny(act: Activation, kv_heads: usize) -> ModelConfig {
    ModelConfig {
        name: "tiny".into(),
        hidden: 128,
        intermediate: 192,
        layers: 2,
        heads: 4,
        kv_heads,
        vocab: 300,
        max_positions: 64,
        rope_theta: 10_000.0,
        rms_eps: 1e-5,
        act,
        bos: 1,
        eos: vec![2],
    }
    .validate()
    .unwrap()
}

fn build(cfg: &ModelConfig, linear: Format, head: Format, pool: &ThreadPool) -> Model {
    let opts = SynthOptions {
        linear,
        head,
        seed: 7,
        sample_layers: None,
    };
    Model::new(synthetic(cfg, &opts, pool, 2).unwrap())
}

/// Every kernel set here that implements both formats.
fn sets(linear: Format, head: Format) -> Vec<&'static KernelSet> {
    KernelSet::available()
        .into_iter()
        .filter(|ks| ks.has(linear) && ks.has(head))
        .collect()
}

/// Prompts of different lengths (so the sequences decode at different depths), 1 to 35 tokens:
/// 35 crosses the attention's 32-token query blocks.
fn prompts() -> Vec<Vec<u32>> {
    [5usize, 1, 35, 12]
        .iter()
        .enumerate()
        .map(|(s, &n)| {
            (0..n)
                .map(|i| ((s * 97 + i * 31 + 3) % 300) as u32)
                .collect()
        })
        .collect()
}

/// How two logit vectors may differ: exactly (`None`), or by `tol` relative to the largest
/// magnitude of `want`.
fn check(got: &[f32], want: &[f32], tol: Option<f32>, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    match tol {
        None => assert!(got == want, "{what}: not bit-identical"),
        Some(tol) => {
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (g - w).abs() <= tol * scale,
                    "{what}: logit {i}: {g} vs {w} (scale {scale})"
                );
            }
        }
    }
}

/// Prefills every prompt alone, then decodes `steps` tokens per sequence (each step's token a
/// function of the sequence and step), returning per step the concatenated last logits.
fn separately(
    model: &Model,
    ks: &'static KernelSet,
    pool: &ThreadPool,
    steps: usize,
) -> Vec<Vec<f32>> {
    let ex = ternbench_engine::model::exec(ks, pool, 2);
    let mut sessions: Vec<Session> = prompts()
        .iter()
        .map(|p| {
            let mut s = model.session(64, KvType::F16).unwrap();
            model.forward(ex, &mut s, p, Logits::None).unwrap();
            s
        })
        .collect();
    (0..steps)
        .map(|step| {
            sessions
                .iter_mut()
                .enumerate()
                .flat_map(|(i, s)| {
                    model
                        .forward(ex, s, &[token(i, step)], Logits::Last)
                        .unwrap()
                })
                .collect()
        })
        .collect()
}

fn token(seq: usize, step: usize) -> u32 {
    ((seq * 13 + step * 7 + 11) % 300) as u32
}

/// The same as [`separately`], with the prompts prefilled in one batched pass and every decode
/// step one batched pass over all sequences.
fn batched(
    model: &Model,
    ks: &'static KernelSet,
    pool: &ThreadPool,
    steps: usize,
) -> Vec<Vec<f32>> {
    let ex = ternbench_engine::model::exec(ks, pool, 2);
    let ps = prompts();
    let mut sessions: Vec<Session> = ps
        .iter()
        .map(|_| model.session(64, KvType::F16).unwrap())
        .collect();
    let lists: Vec<&[u32]> = ps.iter().map(|p| p.as_slice()).collect();
    model
        .forward_batch(ex, &mut sessions, &lists, Logits::None)
        .unwrap();
    (0..steps)
        .map(|step| {
            let toks: Vec<[u32; 1]> = (0..ps.len()).map(|i| [token(i, step)]).collect();
            let lists: Vec<&[u32]> = toks.iter().map(|t| t.as_slice()).collect();
            model
                .forward_batch(ex, &mut sessions, &lists, Logits::Last)
                .unwrap()
        })
        .collect()
}

#[test]
fn batched_decode_is_bit_identical_to_separate_decodes_where_the_kernels_are_exact() {
    let pool = ThreadPool::new(2, Pinning::None);
    for (act, kvh) in [(Activation::Relu2, 2), (Activation::Silu, 4)] {
        let cfg = tiny(act, kvh);
        for linear in [Format::I2, Format::Tq1, Format::Tl] {
            let model = build(&cfg, linear, Format::Q8, &pool);
            for ks in sets(linear, Format::Q8) {
                let (a, b) = (
                    separately(&model, ks, &pool, 3),
                    batched(&model, ks, &pool, 3),
                );
                for (step, (a, b)) in a.iter().zip(&b).enumerate() {
                    check(
                        b,
                        a,
                        None,
                        &format!("{} {linear} {act:?} step {step}", ks.isa),
                    );
                }
            }
        }
    }
}

#[test]
fn batched_decode_matches_separate_decodes_within_the_f16_bound() {
    let pool = ThreadPool::new(2, Pinning::None);
    let cfg = tiny(Activation::Relu2, 2);
    // Ternary layers with the f16 head, and the FP16 twin: f16 gemv and gemm sum in different
    // orders (kernels: |Δ| ≤ 8·√cols·ε·Σ|w·x|); through two layers and the head that stays
    // far below 1e-4 of the largest logit.
    for linear in [Format::I2, Format::F16] {
        let model = build(&cfg, linear, Format::F16, &pool);
        for ks in sets(linear, Format::F16) {
            let (a, b) = (
                separately(&model, ks, &pool, 3),
                batched(&model, ks, &pool, 3),
            );
            for (step, (a, b)) in a.iter().zip(&b).enumerate() {
                check(
                    b,
                    a,
                    Some(1e-4),
                    &format!("{} {linear} step {step}", ks.isa),
                );
            }
        }
    }
}

#[test]
fn batched_prefill_returns_every_sequences_rows_as_alone() {
    let pool = ThreadPool::new(2, Pinning::None);
    let cfg = tiny(Activation::Relu2, 2);
    let model = build(&cfg, Format::I2, Format::Q8, &pool);
    let ks = *sets(Format::I2, Format::Q8).last().unwrap();
    let ex = ternbench_engine::model::exec(ks, &pool, 2);
    let ps = prompts();
    let mut alone = Vec::new();
    for p in &ps {
        let mut s = model.session(64, KvType::F32).unwrap();
        alone.extend(model.forward(ex, &mut s, p, Logits::All).unwrap());
    }
    let mut sessions: Vec<Session> = ps
        .iter()
        .map(|_| model.session(64, KvType::F32).unwrap())
        .collect();
    let lists: Vec<&[u32]> = ps.iter().map(|p| p.as_slice()).collect();
    let all = model
        .forward_batch(ex, &mut sessions, &lists, Logits::All)
        .unwrap();
    check(&all, &alone, None, "prefill, every row");
    for (s, p) in sessions.iter().zip(&ps) {
        assert_eq!(s.cache.len(), p.len());
    }
}

#[test]
fn a_bad_batch_is_refused_before_any_cache_changes() {
    let pool = ThreadPool::new(1, Pinning::None);
    let cfg = tiny(Activation::Relu2, 2);
    let model = build(&cfg, Format::I2, Format::F16, &pool);
    let ex = ternbench_engine::model::exec(KernelSet::best(), &pool, 1);
    let mut sessions: Vec<Session> = (0..2)
        .map(|_| model.session(4, KvType::F32).unwrap())
        .collect();
    let e = model
        .forward_batch(ex, &mut sessions, &[&[1]], Logits::Last)
        .unwrap_err();
    assert!(e.to_string().contains("2 sessions, 1 token lists"), "{e}");
    let e = model
        .forward_batch(ex, &mut sessions, &[&[1], &[]], Logits::Last)
        .unwrap_err();
    assert!(e.to_string().contains("sequence 1"), "{e}");
    let e = model
        .forward_batch(ex, &mut sessions, &[&[1], &[1, 2, 3, 4, 5]], Logits::Last)
        .unwrap_err();
    assert!(e.to_string().contains("exceeds"), "{e}");
    let e = model
        .forward_batch(ex, &mut sessions, &[&[1], &[299, 300]], Logits::Last)
        .unwrap_err();
    assert!(e.to_string().contains("token id 300 at position 1"), "{e}");
    assert!(sessions.iter().all(|s| s.cache.is_empty()));
    let e = model
        .forward_batch(ex, &mut [], &[], Logits::Last)
        .unwrap_err();
    assert!(e.to_string().contains("0 sessions"), "{e}");
}
