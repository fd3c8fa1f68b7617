//! ggml tensor types that ternbench reads from GGUF files, with their block layouts (from ggml's
//! `ggml-common.h` / `ggml-quants.c`, and bitnet.cpp for I2_S) and exact decoders.
//!
//! | id | type | block | bytes | layout |
//! |---|---|---|---|---|
//! | 0 | F32 | 1 | 4 | |
//! | 1 | F16 | 1 | 2 | |
//! | 8 | Q8_0 | 32 | 34 | `f16 d, i8 qs[32]`; x = d·q |
//! | 14 | Q6_K | 256 | 210 | `u8 ql[128], u8 qh[64], i8 scales[16], f16 d`; x = d·sc·(q−32) |
//! | 30 | BF16 | 1 | 2 | |
//! | 34 | TQ1_0 | 256 | 54 | `u8 qs[48]` (5 trits/byte), `u8 qh[4]` (4 trits/byte), `f16 d` |
//! | 35 | TQ2_0 | 256 | 66 | `u8 qs[64]` (4 codes/byte), `f16 d` |
//! | 36 | I2_S | (tensor) | n/4 + 32 | bitnet.cpp: 2-bit codes, then one f32 scale (padded to 32 bytes) |
//!
//! Encoders for the ternary types, I2_S, Q8_0 and Q6_K write what the decoders read (for the
//! GGUF exporter and fixtures). The decoders are exact: Q8_0/Q6_K products of an f16, an i8 and
//! a 6-bit integer fit f32's 24-bit mantissa. Other ids are named in errors but not read. To read a new type: add a row to
//! `TYPES` and a decoder here.

use half::f16;

/// ggml type ids used here.
pub mod id {
    /// f32.
    pub const F32: u32 = 0;
    /// IEEE half.
    pub const F16: u32 = 1;
    /// 8-bit blocks of 32.
    pub const Q8_0: u32 = 8;
    /// 6-bit k-quant.
    pub const Q6_K: u32 = 14;
    /// bfloat16.
    pub const BF16: u32 = 30;
    /// ternary, base 3.
    pub const TQ1_0: u32 = 34;
    /// ternary, 2 bits.
    pub const TQ2_0: u32 = 35;
    /// bitnet.cpp's 2-bit ternary with one f32 scale per tensor.
    pub const I2_S: u32 = 36;
}

/// (id, name, block size in elements, bytes per block); block 0 marks I2_S's per-tensor size.
const TYPES: &[(u32, &str, usize, usize)] = &[
    (id::F32, "F32", 1, 4),
    (id::F16, "F16", 1, 2),
    (id::Q8_0, "Q8_0", 32, 34),
    (id::Q6_K, "Q6_K", 256, 210),
    (id::BF16, "BF16", 1, 2),
    (id::TQ1_0, "TQ1_0", 256, 54),
    (id::TQ2_0, "TQ2_0", 256, 66),
    (id::I2_S, "I2_S", 0, 0),
];

/// Names of ids ternbench recognises but does not read (for messages).
const OTHER_NAMES: &[(u32, &str)] = &[
    (2, "Q4_0"),
    (3, "Q4_1"),
    (6, "Q5_0"),
    (7, "Q5_1"),
    (9, "Q8_1"),
    (10, "Q2_K"),
    (11, "Q3_K"),
    (12, "Q4_K"),
    (13, "Q5_K"),
    (15, "Q8_K"),
    (16, "IQ2_XXS"),
    (17, "IQ2_XS"),
    (18, "IQ3_XXS"),
    (19, "IQ1_S"),
    (20, "IQ4_NL"),
    (21, "IQ3_S"),
    (22, "IQ2_S"),
    (23, "IQ4_XS"),
    (24, "I8"),
    (25, "I16"),
    (26, "I32"),
    (27, "I64"),
    (28, "F64"),
    (29, "IQ1_M"),
    (37, "TL1 (bitnet.cpp)"),
    (38, "TL2 (bitnet.cpp)"),
];

/// A type's name, or `type N` when unknown.
pub fn type_name(t: u32) -> String {
    TYPES
        .iter()
        .map(|r| (r.0, r.1))
        .chain(OTHER_NAMES.iter().copied())
        .find(|r| r.0 == t)
        .map(|r| r.1.to_string())
        .unwrap_or_else(|| format!("type {t}"))
}

/// Bytes of a tensor of `n` elements whose rows are `ne0` long, or an error message; `None` for a
/// type ternbench does not read (its size is unknown to us).
pub fn tensor_bytes(t: u32, ne0: u64, n: u64) -> Option<Result<u64, String>> {
    let &(_, name, block, bytes) = TYPES.iter().find(|r| r.0 == t)?;
    if t == id::I2_S {
        if !n.is_multiple_of(4) {
            return Some(Err(format!("I2_S needs a multiple of 4 elements, has {n}")));
        }
        return Some(Ok(n / 4 + 32));
    }
    let (block, bytes) = (block as u64, bytes as u64);
    if !ne0.is_multiple_of(block) {
        return Some(Err(format!(
            "row length {ne0} is not a multiple of the {name} block of {block}"
        )));
    }
    Some(
        (n / block)
            .checked_mul(bytes)
            .ok_or_else(|| "byte size overflows".to_string()),
    )
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// F32 bytes → values.
pub fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// F16 bytes → values.
pub fn f16s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(2).map(|c| f16_at(c, 0)).collect()
}

/// BF16 bytes → values.
pub fn bf16s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(2)
        .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect()
}

/// Q8_0 bytes → values.
pub fn q8_0(b: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(b.len() / 34 * 32);
    for blk in b.chunks_exact(34) {
        let d = f16_at(blk, 0);
        out.extend(blk[2..].iter().map(|&q| d * (q as i8) as f32));
    }
    out
}

/// Q6_K bytes → values (ggml `dequantize_row_q6_K`).
pub fn q6_k(b: &[u8]) -> Vec<f32> {
    let mut out = vec![0f32; b.len() / 210 * 256];
    for (blk, y) in b.chunks_exact(210).zip(out.chunks_exact_mut(256)) {
        let (ql, qh, sc) = (&blk[..128], &blk[128..192], &blk[192..208]);
        let d = f16_at(blk, 208);
        for half in 0..2 {
            let (ql, qh, sc) = (&ql[half * 64..], &qh[half * 32..], &sc[half * 8..]);
            let y = &mut y[half * 128..];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
            }
        }
    }
    out
}

/// TQ2_0 bytes → (ternary values, per-block scale d) (ggml `dequantize_row_tq2_0`: value
/// `(code − 1)·d`, element `j·4 + l·32 + m` from bits `2l` of byte `j + m`, j ∈ {0, 32}).
pub fn tq2_0(b: &[u8]) -> (Vec<i8>, Vec<f32>) {
    let nb = b.len() / 66;
    let mut w = Vec::with_capacity(nb * 256);
    let mut d = Vec::with_capacity(nb);
    for blk in b.chunks_exact(66) {
        for j in [0usize, 32] {
            for l in 0..4 {
                for m in 0..32 {
                    w.push(((blk[j + m] >> (2 * l)) & 3) as i8 - 1);
                }
            }
        }
        d.push(f16_at(blk, 64));
    }
    (w, d)
}

/// Extracts the base-3 digit stored at position `n` (0 = most significant) of a TQ1_0 byte, as
/// ggml does: `((q · 3ⁿ mod 256) · 3) >> 8`.
fn trit(q: u8, n: u32) -> i8 {
    let q = q.wrapping_mul(3u8.pow(n)) as u16;
    ((q * 3) >> 8) as i8 - 1
}

/// TQ1_0 bytes → (ternary values, per-block scale d) (ggml `dequantize_row_tq1_0`): bytes
/// `qs[0..32]` hold elements `n·32 + m` (digit n of byte m), `qs[32..48]` elements
/// `160 + n·16 + m`, `qh[0..4]` elements `240 + n·4 + j` (4 digits each).
pub fn tq1_0(b: &[u8]) -> (Vec<i8>, Vec<f32>) {
    let nb = b.len() / 54;
    let mut w = Vec::with_capacity(nb * 256);
    let mut d = Vec::with_capacity(nb);
    for blk in b.chunks_exact(54) {
        let (qs, qh) = (&blk[..48], &blk[48..52]);
        for n in 0..5 {
            w.extend(qs[..32].iter().map(|&q| trit(q, n)));
        }
        for n in 0..5 {
            w.extend(qs[32..48].iter().map(|&q| trit(q, n)));
        }
        for n in 0..4 {
            w.extend(qh.iter().map(|&q| trit(q, n)));
        }
        d.push(f16_at(blk, 52));
    }
    (w, d)
}

fn pack_trits(digits: &[i8]) -> u8 {
    // ggml quantize_row_tq1_0_ref: q = Σ (x+1)·3^(k-1-i), then ceil(q·256/243).
    let q = digits.iter().fold(0u16, |q, &x| q * 3 + (x + 1) as u16);
    let q = q * 3u16.pow(5 - digits.len() as u32);
    (q * 256).div_ceil(243) as u8
}

/// Appends one TQ1_0 block: 256 ternary values `x` with scale `d` (the inverse of [`tq1_0`] on
/// one block).
pub fn encode_tq1_0_block(x: &[i8], d: f32, out: &mut Vec<u8>) {
    assert_eq!(x.len(), 256, "a TQ1_0 block holds 256 values");
    for m in 0..32 {
        let t = [x[m], x[32 + m], x[64 + m], x[96 + m], x[128 + m]];
        out.push(pack_trits(&t));
    }
    for m in 0..16 {
        let t = [x[160 + m], x[176 + m], x[192 + m], x[208 + m], x[224 + m]];
        out.push(pack_trits(&t));
    }
    for j in 0..4 {
        let t = [x[240 + j], x[244 + j], x[248 + j], x[252 + j]];
        out.push(pack_trits(&t));
    }
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
}

/// Appends one TQ2_0 block: 256 ternary values `x` with scale `d` (the inverse of [`tq2_0`] on
/// one block).
pub fn encode_tq2_0_block(x: &[i8], d: f32, out: &mut Vec<u8>) {
    assert_eq!(x.len(), 256, "a TQ2_0 block holds 256 values");
    let mut qs = [0u8; 64];
    for (e, &v) in x.iter().enumerate() {
        let (j, l, m) = ((e / 128) * 32, (e % 128) / 32, e % 32);
        qs[j + m] |= ((v + 1) as u8) << (2 * l);
    }
    out.extend_from_slice(&qs);
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
}

/// Encodes ternary values (a multiple of 256) as TQ1_0 with scale `d` in every block (the
/// inverse of [`tq1_0`]).
pub fn encode_tq1_0(w: &[i8], d: f32) -> Vec<u8> {
    let mut out = Vec::with_capacity(w.len() / 256 * 54);
    for x in w.chunks_exact(256) {
        encode_tq1_0_block(x, d, &mut out);
    }
    out
}

/// Encodes ternary values (a multiple of 256) as TQ2_0 with scale `d` (inverse of [`tq2_0`]).
pub fn encode_tq2_0(w: &[i8], d: f32) -> Vec<u8> {
    let mut out = Vec::with_capacity(w.len() / 256 * 66);
    for x in w.chunks_exact(256) {
        encode_tq2_0_block(x, d, &mut out);
    }
    out
}

/// Encodes a whole tensor's ternary values (row-major, a multiple of 128) as bitnet.cpp's I2_S:
/// codes `w + 1` four to a byte — in each 32-byte block of 128 values, byte `j` holds values
/// `j, j+32, j+64, j+96` in bits 7-6, 5-4, 3-2, 1-0 — then the f32 `scale` and zeros up to 32
/// bytes (bitnet.cpp `quantize_i2_s`'s layout; [`tensor_bytes`] gives the size).
pub fn encode_i2s(w: &[i8], scale: f32) -> Vec<u8> {
    assert!(
        w.len().is_multiple_of(128),
        "I2_S packs blocks of 128 values"
    );
    let mut out = vec![0u8; w.len() / 4 + 32];
    for (blk, x) in w.chunks_exact(128).enumerate() {
        let o = &mut out[blk * 32..blk * 32 + 32];
        for (e, &v) in x.iter().enumerate() {
            o[e % 32] |= ((v + 1) as u8) << (6 - 2 * (e / 32));
        }
    }
    let n = w.len() / 4;
    out[n..n + 4].copy_from_slice(&scale.to_le_bytes());
    out
}

/// I2_S bytes of `n` values → (ternary values, the tensor's scale) (the inverse of
/// [`encode_i2s`]).
pub fn i2s(b: &[u8], n: usize) -> (Vec<i8>, f32) {
    let mut w = Vec::with_capacity(n);
    for blk in b[..n / 4].chunks_exact(32) {
        for g in 0..4 {
            w.extend(blk.iter().map(|&q| ((q >> (6 - 2 * g)) & 3) as i8 - 1));
        }
    }
    let scale = f32::from_le_bytes(b[n / 4..n / 4 + 4].try_into().expect("4 bytes"));
    (w, scale)
}

/// Quantises one Q6_K sub-block of 16 values with scale `s`: the 6-bit codes (value
/// `s·(q − 32)`) and the squared error.
fn q6_sub(x: &[f32], s: f32) -> ([u8; 16], f32) {
    let mut q = [32u8; 16];
    let mut err = 0f32;
    let inv = if s != 0.0 { 1.0 / s } else { 0.0 };
    for (k, &v) in x.iter().enumerate() {
        // Round to nearest by the 1.5·2²³ trick (|v·inv| stays far below 2²²: a candidate scale
        // maps the sub-block's largest magnitude to at most 32 steps, and a rounded one to ~33);
        // `f32::round` is a libm call on baseline x86-64, and this runs for every candidate.
        let l = (((v * inv) + 12_582_912.0) - 12_582_912.0) as i32;
        let l = l.clamp(-32, 31);
        q[k] = (l + 32) as u8;
        let e = v - s * l as f32;
        err += e * e;
    }
    (q, err)
}

/// Encodes values (a multiple of 256) as Q6_K (ggml's layout, read by [`q6_k`]): per block of
/// 256, sixteen sub-blocks of 16 values with an i8 scale each, one f16 super-scale `d`, codes
/// `q ∈ [0, 63]` for the value `d·sc·(q − 32)`.
///
/// ternbench's own quantiser (not ggml's `make_qx_quants`): each sub-block's scale is searched
/// over a grid of candidates that map its largest magnitude to 28, 28.5, .., 32 steps (either sign) for the
/// least squared error; the sixteen scales are then rounded to i8 steps of `d = max|s|/127`
/// (to whichever of the nearest step and its two neighbours errs least), and the codes
/// recomputed with the rounded scales.
pub fn encode_q6_k(x: &[f32]) -> Vec<u8> {
    assert!(
        x.len().is_multiple_of(256),
        "Q6_K packs blocks of 256 values"
    );
    let mut out = Vec::with_capacity(x.len() / 256 * 210);
    for blk in x.chunks_exact(256) {
        let mut scales = [0f32; 16];
        for (j, sub) in blk.chunks_exact(16).enumerate() {
            let amax = sub.iter().fold(0f32, |m, v| m.max(v.abs()));
            if amax == 0.0 {
                continue;
            }
            let mut best = (f32::INFINITY, 0f32);
            for steps in 0..=8 {
                let t = 32.0 - steps as f32 * 0.5;
                for s in [amax / t, -amax / t] {
                    let (_, e) = q6_sub(sub, s);
                    if e < best.0 {
                        best = (e, s);
                    }
                }
            }
            scales[j] = best.1;
        }
        let smax = scales.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = f16::from_f32(smax / 127.0);
        let df = d.to_f32();
        let mut sc = [0i8; 16];
        let mut q = [32u8; 256];
        for (j, sub) in blk.chunks_exact(16).enumerate() {
            if df == 0.0 || scales[j] == 0.0 {
                continue;
            }
            // The rounded scale and its two neighbours: rounding down can clip the largest
            // value, rounding up coarsens the step; keep whichever errs least.
            let r = (scales[j] / df).round();
            let mut best = (f32::INFINITY, 0i8, [32u8; 16]);
            for c in [r - 1.0, r, r + 1.0] {
                let c = c.clamp(-127.0, 127.0) as i8;
                let (codes, e) = q6_sub(sub, df * c as f32);
                if e < best.0 {
                    best = (e, c, codes);
                }
            }
            sc[j] = best.1;
            q[j * 16..j * 16 + 16].copy_from_slice(&best.2);
        }
        let (mut ql, mut qh) = ([0u8; 128], [0u8; 64]);
        for half in 0..2 {
            let q = &q[half * 128..];
            for l in 0..32 {
                let (q1, q2, q3, q4) = (q[l], q[l + 32], q[l + 64], q[l + 96]);
                ql[half * 64 + l] = (q1 & 0xF) | ((q3 & 0xF) << 4);
                ql[half * 64 + l + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4);
                qh[half * 32 + l] =
                    (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
            }
        }
        out.extend_from_slice(&ql);
        out.extend_from_slice(&qh);
        out.extend(sc.iter().map(|&c| c as u8));
        out.extend_from_slice(&d.to_le_bytes());
    }
    out
}

/// Encodes values as Q8_0 (ggml `quantize_row_q8_0_ref`: d = max|x|/127, q = round(x/d)).
pub fn encode_q8_0(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * 34);
    for b in x.chunks_exact(32) {
        let amax = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        out.extend(b.iter().map(|&v| (v * id).round() as i8 as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tern(n: usize) -> Vec<i8> {
        let mut s = 12345u64;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((s >> 33) % 3) as i8 - 1
            })
            .collect()
    }

    #[test]
    fn tq_round_trips() {
        let w = tern(512);
        let (w1, d1) = tq1_0(&encode_tq1_0(&w, 0.5));
        assert_eq!(w1, w);
        assert_eq!(d1, vec![0.5, 0.5]);
        let (w2, d2) = tq2_0(&encode_tq2_0(&w, 0.25));
        assert_eq!(w2, w);
        assert_eq!(d2, vec![0.25, 0.25]);
        // Every byte value ggml's encoder makes decodes to its digits.
        for v in 0..243u16 {
            let digits: Vec<i8> = (0..5)
                .map(|i| ((v / 3u16.pow(4 - i)) % 3) as i8 - 1)
                .collect();
            let b = pack_trits(&digits);
            assert_eq!((0..5).map(|n| trit(b, n)).collect::<Vec<_>>(), digits);
        }
    }

    #[test]
    fn i2s_round_trips_in_bitnet_cpp_layout() {
        let w = tern(256);
        let b = encode_i2s(&w, 0.125);
        assert_eq!(b.len(), 256 / 4 + 32);
        // Byte j of a block: values j, j+32, j+64, j+96 in bits 7-6 .. 1-0, code w+1.
        let want = ((w[0] + 1) as u8) << 6
            | ((w[32] + 1) as u8) << 4
            | ((w[64] + 1) as u8) << 2
            | (w[96] + 1) as u8;
        assert_eq!(b[0], want);
        assert_eq!(&b[64..68], &0.125f32.to_le_bytes());
        assert!(b[68..].iter().all(|&x| x == 0));
        assert_eq!(i2s(&b, 256), (w, 0.125));
    }

    #[test]
    fn q6_k_encoding_decodes_within_its_step() {
        let mut s = 7u64;
        let mut x: Vec<f32> = (0..1024)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        x[300..316].iter_mut().for_each(|v| *v = 0.0); // an all-zero sub-block
        x[600] = 40.0; // one outlier block
        let b = encode_q6_k(&x);
        assert_eq!(b.len(), 4 * 210);
        let y = q6_k(&b);
        for (blk, (xb, yb)) in x.chunks(256).zip(y.chunks(256)).enumerate() {
            for (sub, (xs, ys)) in xb.chunks(16).zip(yb.chunks(16)).enumerate() {
                let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
                // Half a step of the sub-block's scale, plus the rounding of that scale to i8
                // steps of d = max|s|/127 (at most half a d per code unit, 32 units).
                let dmax = xb.iter().fold(0f32, |m, v| m.max(v.abs())) / 28.0 / 127.0;
                let tol = amax / 28.0 * 0.5 + dmax * 0.5 * 32.0 + 1e-6;
                for (a, b) in xs.iter().zip(ys) {
                    assert!(
                        (a - b).abs() <= tol,
                        "block {blk} sub {sub}: {a} vs {b} (tol {tol})"
                    );
                }
            }
        }
        assert!(y[300..316].iter().all(|&v| v == 0.0));
        // Away from the outlier's own sub-block (whose 15 other values share its coarse step).
        let rms = (x
            .iter()
            .zip(&y)
            .enumerate()
            .filter(|(i, _)| !(592..608).contains(i))
            .map(|(_, (a, b))| (a - b) * (a - b))
            .sum::<f32>()
            / 1008.0)
            .sqrt();
        assert!(rms < 0.012, "rms error {rms}");
    }

    #[test]
    fn q6_k_matches_a_per_element_formula() {
        let mut blk = vec![0u8; 210];
        let mut s = 99u64;
        for b in blk.iter_mut().take(208) {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(7);
            *b = (s >> 40) as u8;
        }
        blk[208..].copy_from_slice(&f16::from_f32(0.01).to_le_bytes());
        let y = q6_k(&blk);
        let d = f16::from_f32(0.01).to_f32();
        for (j, &yj) in y.iter().enumerate() {
            let (half, within) = (j / 128, j % 128);
            let (g, l) = (within / 32, within % 32);
            let ql = blk[half * 64 + l + 32 * (g % 2)];
            let lo = if g >= 2 { ql >> 4 } else { ql & 0xF };
            let hi = (blk[128 + half * 32 + l] >> (2 * g)) & 3;
            let q = (lo | (hi << 4)) as i32 - 32;
            let sc = blk[192 + half * 8 + l / 16 + 2 * g] as i8;
            assert_eq!(yj, d * sc as f32 * q as f32, "element {j}");
        }
    }

    #[test]
    fn q8_0_round_trip_and_sizes() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 30.0) / 7.0).collect();
        let y = q8_0(&encode_q8_0(&x));
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 0.02, "{a} {b}");
        }
        assert_eq!(tensor_bytes(id::I2_S, 128, 256), Some(Ok(96)));
        assert_eq!(tensor_bytes(id::TQ2_0, 256, 512), Some(Ok(132)));
        assert!(matches!(tensor_bytes(id::TQ1_0, 100, 100), Some(Err(_))));
        assert_eq!(tensor_bytes(12, 256, 256), None);
        assert_eq!(type_name(12), "Q4_K");
        assert_eq!(type_name(99), "type 99");
    }
}
