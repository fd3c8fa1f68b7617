//! The forward pass against a naive f64 re-implementation written straight from the BitNet b1.58
//! definition (anchors §2), on tiny synthetic models (GQA and MHA, relu² and SiLU); prefill vs
//! token-by-token decode; the FP16 twin against the ternary model.

use ternbench_engine::kernels::{act::quantize_row, Format, Isa, KernelSet, Pinning, ThreadPool};
use ternbench_engine::{
    synthetic, Activation, KvType, Linear, Logits, Model, ModelConfig, SynthOptions,
};

fn tiny(act: Activation, kv_heads: usize) -> ModelConfig {
    ModelConfig {
        name: "tiny".into(),
        hidden: 64,
        intermediate: 96,
        layers: 2,
        heads: 4,
        kv_heads,
        vocab: 50,
        max_positions: 32,
        rope_theta: 10_000.0,
        rms_eps: 1e-5,
        act,
        bos: 1,
        eos: vec![2],
    }
    .validate()
    .unwrap()
}

/// Dense f64 copy of a ternary layer: (values w·β row-major, β, rows, cols).
fn dense(l: &Linear) -> (Vec<f64>, usize, usize) {
    let Linear::I2(m) = l else {
        panic!("reference expects i2")
    };
    let (r, c) = (m.rows(), m.cols());
    let mut row = vec![0i8; c];
    let mut out = Vec::with_capacity(r * c);
    for i in 0..r {
        m.unpack_row(i, &mut row);
        out.extend(row.iter().map(|&v| v as f64));
    }
    (out, r, c)
}

/// BitLinear in f64 after BitNet's int8 activation quantisation.
fn bitlinear(l: &Linear, x: &[f64]) -> Vec<f64> {
    let Linear::I2(m) = l else { unreachable!() };
    let (w, r, c) = dense(l);
    let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let mut q = vec![0i8; c];
    let (s, _) = quantize_row(&xf, &mut q);
    (0..r)
        .map(|i| {
            (0..c).map(|k| w[i * c + k] * q[k] as f64).sum::<f64>() / s as f64 * m.scale() as f64
        })
        .collect()
}

fn rms(x: &[f64], eps: f64) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    x.iter().map(|v| v / (ms + eps).sqrt()).collect()
}

fn rope(x: &mut [f64], pos: usize, hd: usize, theta: f64) {
    for head in x.chunks_mut(hd) {
        for i in 0..hd / 2 {
            let ang = pos as f64 * theta.powf(-(2.0 * i as f64) / hd as f64);
            let (a, b) = (head[i], head[i + hd / 2]);
            head[i] = a * ang.cos() - b * ang.sin();
            head[i + hd / 2] = b * ang.cos() + a * ang.sin();
        }
    }
}

/// Logits of every position, computed naively.
/// Softmax in f64.
fn softmax64(s: &[f64]) -> Vec<f64> {
    let m = s.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

fn reference(model: &Model, tokens: &[u32]) -> Vec<Vec<f64>> {
    let w = &model.weights;
    let c = &w.cfg;
    let (h, hd, eps) = (c.hidden, c.head_dim(), c.rms_eps as f64);
    let mut xs: Vec<Vec<f64>> = tokens
        .iter()
        .map(|&t| (0..h).map(|k| w.embed.get(t as usize, k) as f64).collect())
        .collect();
    for l in &w.layers {
        let hs: Vec<Vec<f64>> = xs.iter().map(|x| rms(x, eps)).collect();
        let qs: Vec<Vec<f64>> = hs
            .iter()
            .enumerate()
            .map(|(p, x)| {
                let mut q = bitlinear(&l.q, x);
                rope(&mut q, p, hd, c.rope_theta as f64);
                q
            })
            .collect();
        let ks: Vec<Vec<f64>> = hs
            .iter()
            .enumerate()
            .map(|(p, x)| {
                let mut k = bitlinear(&l.k, x);
                rope(&mut k, p, hd, c.rope_theta as f64);
                k
            })
            .collect();
        let vs: Vec<Vec<f64>> = hs.iter().map(|x| bitlinear(&l.v, x)).collect();
        for p in 0..xs.len() {
            let mut a = vec![0f64; h];
            for head in 0..c.heads {
                let kvh = head / (c.heads / c.kv_heads);
                let q = &qs[p][head * hd..(head + 1) * hd];
                let sc: Vec<f64> = (0..=p)
                    .map(|j| {
                        q.iter()
                            .zip(&ks[j][kvh * hd..(kvh + 1) * hd])
                            .map(|(a, b)| a * b)
                            .sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                for (j, pj) in softmax64(&sc).iter().enumerate() {
                    for d in 0..hd {
                        a[head * hd + d] += pj * vs[j][kvh * hd + d];
                    }
                }
            }
            let o = bitlinear(&l.o, &rms(&a, eps));
            xs[p].iter_mut().zip(&o).for_each(|(x, o)| *x += o);
            let hn = rms(&xs[p], eps);
            let g = bitlinear(&l.gate, &hn);
            let u = bitlinear(&l.up, &hn);
            let f: Vec<f64> = g
                .iter()
                .zip(&u)
                .map(|(&g, &u)| match c.act {
                    Activation::Relu2 => g.max(0.0).powi(2) * u,
                    Activation::Silu => g / (1.0 + (-g).exp()) * u,
                })
                .collect();
            let d = bitlinear(&l.down, &rms(&f, eps));
            xs[p].iter_mut().zip(&d).for_each(|(x, d)| *x += d);
        }
    }
    xs.iter()
        .map(|x| {
            let xn = rms(x, eps);
            (0..c.vocab)
                .map(|v| (0..h).map(|k| w.embed.get(v, k) as f64 * xn[k]).sum())
                .collect()
        })
        .collect()
}

fn build(cfg: &ModelConfig, linear: Format, pool: &ThreadPool) -> Model {
    let opts = SynthOptions {
        linear,
        head: Format::F16,
        seed: 42,
        sample_layers: None,
    };
    Model::new(synthetic(cfg, &opts, pool, 2).unwrap())
}

const TOKENS: [u32; 7] = [1, 17, 3, 49, 0, 25, 25];

#[test]
fn matches_naive_reference_and_decode_matches_prefill() {
    let pool = ThreadPool::new(2, Pinning::None);
    for (act, kvh) in [(Activation::Relu2, 2), (Activation::Silu, 4)] {
        let cfg = tiny(act, kvh);
        let model = build(&cfg, Format::I2, &pool);
        let want = reference(&model, &TOKENS);
        for isa in Isa::available() {
            let ks = KernelSet::get(isa).unwrap();
            if !ks.has(Format::I2) {
                continue; // the kernels' own agreement test fails for a missing kernel
            }
            let ex = ternbench_engine::model::exec(ks, &pool, 2);
            let mut s = model.session(16, KvType::F32).unwrap();
            let all = model.forward(ex, &mut s, &TOKENS, Logits::All).unwrap();
            for (p, row) in want.iter().enumerate() {
                for (v, &r) in row.iter().enumerate() {
                    let got = all[p * cfg.vocab + v] as f64;
                    assert!(
                        (got - r).abs() <= 1e-3 * (1.0 + r.abs()),
                        "{isa} {act:?} pos {p} vocab {v}: {got} vs {r}"
                    );
                }
            }
            // Token-by-token decode gives the same last logits as the prefill.
            let mut s2 = model.session(16, KvType::F32).unwrap();
            let mut last = Vec::new();
            for &t in &TOKENS {
                last = model.forward(ex, &mut s2, &[t], Logits::Last).unwrap();
            }
            let tail = &all[(TOKENS.len() - 1) * cfg.vocab..];
            for (a, b) in last.iter().zip(tail) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{isa}: decode {a} vs prefill {b}"
                );
            }
        }
    }
}

/// Attention over prompts longer than one block of query tokens (32): every block's queries
/// score the positions its last token sees and the causal mask hides the rest, whether the
/// prompt starts at position 0 or after cached positions, against f64 attention, at every level
/// and for MHA, GQA and MQA groupings.
#[test]
fn blocked_prefill_attention_matches_f64_attention() {
    use ternbench_engine::kv_cache::KvCache;
    use ternbench_engine::model::attention::{attend, AttnShape};
    let pool = ThreadPool::new(2, Pinning::None);
    let (heads, hd) = (4, 16);
    let mut seed = 7u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    for kv_heads in [4, 2, 1] {
        let shape = AttnShape {
            heads,
            kv_heads,
            head_dim: hd,
        };
        let kvd = kv_heads * hd;
        for (pos0, batch) in [(0usize, 75usize), (40, 35), (3, 1)] {
            let total = pos0 + batch;
            let kr: Vec<Vec<f32>> = (0..total)
                .map(|_| (0..kvd).map(|_| rnd()).collect())
                .collect();
            let vr: Vec<Vec<f32>> = (0..total)
                .map(|_| (0..kvd).map(|_| rnd()).collect())
                .collect();
            let q: Vec<f32> = (0..batch * heads * hd).map(|_| 2.0 * rnd()).collect();
            let mut cache = KvCache::new(KvType::F32, 1, kv_heads, hd, total);
            for p in 0..total {
                cache.put(0, p, &kr[p], &vr[p]);
            }
            cache.set_len(total);
            let group = heads / kv_heads;
            for ks in KernelSet::available() {
                let ex = ternbench_engine::model::exec(ks, &pool, 2);
                let mut out = vec![f32::NAN; batch * heads * hd];
                attend(ex, shape, &cache, 0, &q, batch, pos0, &mut out);
                for t in 0..batch {
                    for h in 0..heads {
                        let kvh = h / group;
                        let qh = &q[(t * heads + h) * hd..(t * heads + h + 1) * hd];
                        let sc: Vec<f64> = (0..=pos0 + t)
                            .map(|j| {
                                let kj = &kr[j][kvh * hd..(kvh + 1) * hd];
                                qh.iter()
                                    .zip(kj)
                                    .map(|(a, b)| *a as f64 * *b as f64)
                                    .sum::<f64>()
                                    / (hd as f64).sqrt()
                            })
                            .collect();
                        let pr = softmax64(&sc);
                        for d in 0..hd {
                            let want: f64 = pr
                                .iter()
                                .enumerate()
                                .map(|(j, pj)| pj * vr[j][kvh * hd + d] as f64)
                                .sum();
                            let got = out[(t * heads + h) * hd + d] as f64;
                            assert!(
                                (got - want).abs() <= 1e-5,
                                "{} kv_heads {kv_heads} pos0 {pos0} token {t} head {h} dim {d}: {got} vs {want}",
                                ks.isa
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn fp16_twin_tracks_the_ternary_model() {
    let pool = ThreadPool::new(2, Pinning::None);
    let cfg = tiny(Activation::Relu2, 2);
    let ks = widest_with_all();
    let ex = ternbench_engine::model::exec(ks, &pool, 2);
    let run = |f| {
        let m = build(&cfg, f, &pool);
        let mut s = m.session(16, KvType::F16).unwrap();
        m.forward(ex, &mut s, &TOKENS, Logits::All).unwrap()
    };
    let (t, f) = (run(Format::I2), run(Format::F16));
    // Same weights; only activation quantisation differs: logits agree closely.
    let dot: f64 = t.iter().zip(&f).map(|(a, b)| *a as f64 * *b as f64).sum();
    let n1: f64 = t.iter().map(|a| (*a as f64).powi(2)).sum();
    let n2: f64 = f.iter().map(|a| (*a as f64).powi(2)).sum();
    let cos = dot / (n1.sqrt() * n2.sqrt());
    assert!(cos > 0.99, "cosine {cos}");
    for fmt in [Format::Tq1, Format::Tl] {
        let other = run(fmt);
        assert_eq!(other, t, "{fmt} must equal i2 bit for bit");
    }
}

/// The widest level that implements every format (the kernels' agreement test fails if a level
/// lacks one, so this is the best level once all kernels exist).
fn widest_with_all() -> &'static KernelSet {
    KernelSet::available()
        .into_iter()
        .rev()
        .find(|ks| Format::ALL.iter().all(|&f| ks.has(f)))
        .expect("the scalar level implements every format")
}

#[test]
fn context_limit_and_bad_token_are_errors() {
    let pool = ThreadPool::new(1, Pinning::None);
    let cfg = tiny(Activation::Relu2, 2);
    let model = build(&cfg, Format::I2, &pool);
    assert!(model.session(33, KvType::F32).is_err());
    let ex = ternbench_engine::model::exec(widest_with_all(), &pool, 1);
    let mut s = model.session(4, KvType::F32).unwrap();
    let e = model
        .forward(ex, &mut s, &[1, 2, 3, 4, 5], Logits::Last)
        .unwrap_err();
    assert!(e.to_string().contains("exceeds"), "{e}");
    let e = model.forward(ex, &mut s, &[99], Logits::Last).unwrap_err();
    assert!(e.to_string().contains("vocabulary"), "{e}");
}
