//! AVX2 + FMA + F16C vector primitives (see [`crate::vecops`]); every x86 level with those
//! features (avx2, avx512, avx512vnni) uses them.

use std::arch::x86_64::*;

use crate::vecops::VecOps;

pub(crate) static VEC: VecOps = VecOps {
    scores_f16,
    scores_f32,
    mix_f16,
    mix_f32,
};

/// Eight f16 (bit patterns) at `p`, widened.
///
/// # Safety
/// `p..p+8` readable; the CPU has F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load8_f16(p: *const u16) -> __m256 {
    // SAFETY: forwarded to the caller.
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
}

/// Eight f32 at `p`.
///
/// # Safety
/// `p..p+8` readable; the CPU has AVX.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load8_f32(p: *const f32) -> __m256 {
    // SAFETY: forwarded to the caller.
    unsafe { _mm256_loadu_ps(p) }
}

/// Sums of four vectors' lanes: `[Σa, Σb, Σc, Σd]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    let h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h))
}

/// Strided scores and weighted row sums for one element type (`$load` widens 8 elements,
/// `$cvt` one).
macro_rules! strided {
    ($scores:ident, $mix:ident, $t:ty, $load:ident, $cvt:expr) => {
        /// Scores of strided rows, four rows per step (four independent FMA chains sharing
        /// each load of `x`); a tail of `len % 8` columns and of `n % 4` rows in scalar/one-row
        /// form.
        ///
        /// # Safety
        /// The CPU has AVX2, FMA and F16C; the caller checked
        /// `(out.len()-1)·stride + x.len() ≤ rows.len()` and `stride ≥ x.len()`.
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn $scores(rows: &[$t], stride: usize, x: &[f32], scale: f32, out: &mut [f32]) {
            let (n, len) = (out.len(), x.len());
            let body = len / 8 * 8;
            let (r, xp) = (rows.as_ptr(), x.as_ptr());
            let tail = |j: usize| -> f32 {
                (body..len)
                    .map(|i| $cvt(rows[j * stride + i]) * x[i])
                    .sum::<f32>()
            };
            let mut j = 0;
            while j + 4 <= n {
                let mut acc = [_mm256_setzero_ps(); 4];
                let mut i = 0;
                while i < body {
                    // SAFETY: i + 8 <= body <= len; rows j..j+4 fit (caller).
                    unsafe {
                        let xv = _mm256_loadu_ps(xp.add(i));
                        for (k, a) in acc.iter_mut().enumerate() {
                            *a = _mm256_fmadd_ps($load(r.add((j + k) * stride + i)), xv, *a);
                        }
                    }
                    i += 8;
                }
                let mut s = [0f32; 4];
                // SAFETY: `s` holds four floats.
                unsafe { _mm_storeu_ps(s.as_mut_ptr(), hsum4(acc[0], acc[1], acc[2], acc[3])) };
                for k in 0..4 {
                    out[j + k] = scale * (s[k] + tail(j + k));
                }
                j += 4;
            }
            while j < n {
                let mut a = _mm256_setzero_ps();
                let mut i = 0;
                while i < body {
                    // SAFETY: as above, one row.
                    unsafe {
                        a = _mm256_fmadd_ps(
                            $load(r.add(j * stride + i)),
                            _mm256_loadu_ps(xp.add(i)),
                            a,
                        )
                    };
                    i += 8;
                }
                out[j] = scale * (hsum(a) + tail(j));
                j += 1;
            }
        }

        /// `y = Σ_j p[j]·row_j`: 32 columns of `y` held in four registers while every row
        /// passes, then the next 32; 8-column blocks and a scalar tail after.
        ///
        /// # Safety
        /// The CPU has AVX2, FMA and F16C; the caller checked
        /// `(p.len()-1)·stride + y.len() ≤ rows.len()` and `stride ≥ y.len()`.
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn $mix(rows: &[$t], stride: usize, p: &[f32], y: &mut [f32]) {
            let len = y.len();
            let r = rows.as_ptr();
            let yp = y.as_mut_ptr();
            let mut c = 0;
            while c + 32 <= len {
                let mut acc = [_mm256_setzero_ps(); 4];
                for (j, &pj) in p.iter().enumerate() {
                    let pv = _mm256_set1_ps(pj);
                    for (k, a) in acc.iter_mut().enumerate() {
                        // SAFETY: c + 8k + 8 <= len; row j fits (caller).
                        let w = unsafe { $load(r.add(j * stride + c + 8 * k)) };
                        *a = _mm256_fmadd_ps(pv, w, *a);
                    }
                }
                for (k, a) in acc.iter().enumerate() {
                    // SAFETY: c + 8k + 8 <= len = y.len().
                    unsafe { _mm256_storeu_ps(yp.add(c + 8 * k), *a) };
                }
                c += 32;
            }
            while c + 8 <= len {
                let mut a = _mm256_setzero_ps();
                for (j, &pj) in p.iter().enumerate() {
                    // SAFETY: c + 8 <= len; row j fits (caller).
                    let w = unsafe { $load(r.add(j * stride + c)) };
                    a = _mm256_fmadd_ps(_mm256_set1_ps(pj), w, a);
                }
                // SAFETY: c + 8 <= len.
                unsafe { _mm256_storeu_ps(yp.add(c), a) };
                c += 8;
            }
            for (i, yi) in y.iter_mut().enumerate().skip(c) {
                *yi = p
                    .iter()
                    .enumerate()
                    .map(|(j, &pj)| pj * $cvt(rows[j * stride + i]))
                    .sum();
            }
        }
    };
}

strided!(scores_f16, mix_f16, u16, load8_f16, |b: u16| {
    half::f16::from_bits(b).to_f32()
});
strided!(scores_f32, mix_f32, f32, load8_f32, |v: f32| v);

/// Horizontal sum of eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}
