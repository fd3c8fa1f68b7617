//! AVX2 + FMA + F16C vector primitives (see [`crate::vecops`]); every x86 level with those
//! features (avx2, avx512, avx512vnni) uses them.

use std::arch::x86_64::*;

use crate::vecops::VecOps;

pub(crate) static VEC: VecOps = VecOps {
    dot_f16,
    dot_f32,
    axpy_f16,
    axpy_f32,
};

/// Horizontal sum of eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// # Safety
/// The CPU has AVX2, FMA and F16C; `x.len() == row.len()` (checked by the caller).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f16(row: &[u16], x: &[f32]) -> f32 {
    let n = row.len().min(x.len());
    let (r, xp) = (row.as_ptr(), x.as_ptr());
    let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    // SAFETY: every load covers elements i..i+8 (or i+16) < n of both slices.
    unsafe {
        while i + 16 <= n {
            let w0 = _mm256_cvtph_ps(_mm_loadu_si128(r.add(i).cast()));
            let w1 = _mm256_cvtph_ps(_mm_loadu_si128(r.add(i + 8).cast()));
            a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xp.add(i)), a0);
            a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xp.add(i + 8)), a1);
            i += 16;
        }
        if i + 8 <= n {
            let w0 = _mm256_cvtph_ps(_mm_loadu_si128(r.add(i).cast()));
            a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xp.add(i)), a0);
            i += 8;
        }
    }
    let mut s = hsum(_mm256_add_ps(a0, a1));
    for j in i..n {
        s += half::f16::from_bits(row[j]).to_f32() * x[j];
    }
    s
}

/// # Safety
/// As [`dot_f16`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f32(row: &[f32], x: &[f32]) -> f32 {
    let n = row.len().min(x.len());
    let (r, xp) = (row.as_ptr(), x.as_ptr());
    let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    // SAFETY: every load covers elements i..i+8 (or i+16) < n of both slices.
    unsafe {
        while i + 16 <= n {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r.add(i)), _mm256_loadu_ps(xp.add(i)), a0);
            a1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(r.add(i + 8)),
                _mm256_loadu_ps(xp.add(i + 8)),
                a1,
            );
            i += 16;
        }
        if i + 8 <= n {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r.add(i)), _mm256_loadu_ps(xp.add(i)), a0);
            i += 8;
        }
    }
    let mut s = hsum(_mm256_add_ps(a0, a1));
    for j in i..n {
        s += row[j] * x[j];
    }
    s
}

/// # Safety
/// The CPU has AVX2, FMA and F16C; `y.len() == row.len()` (checked by the caller).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn axpy_f16(a: f32, row: &[u16], y: &mut [f32]) {
    let n = row.len().min(y.len());
    let (r, yp) = (row.as_ptr(), y.as_mut_ptr());
    let av = _mm256_set1_ps(a);
    let mut i = 0;
    // SAFETY: every access covers elements i..i+8 < n of both slices.
    unsafe {
        while i + 8 <= n {
            let w = _mm256_cvtph_ps(_mm_loadu_si128(r.add(i).cast()));
            _mm256_storeu_ps(
                yp.add(i),
                _mm256_fmadd_ps(av, w, _mm256_loadu_ps(yp.add(i))),
            );
            i += 8;
        }
    }
    for j in i..n {
        y[j] += a * half::f16::from_bits(row[j]).to_f32();
    }
}

/// # Safety
/// As [`axpy_f16`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn axpy_f32(a: f32, row: &[f32], y: &mut [f32]) {
    let n = row.len().min(y.len());
    let (r, yp) = (row.as_ptr(), y.as_mut_ptr());
    let av = _mm256_set1_ps(a);
    let mut i = 0;
    // SAFETY: every access covers elements i..i+8 < n of both slices.
    unsafe {
        while i + 8 <= n {
            let w = _mm256_loadu_ps(r.add(i));
            _mm256_storeu_ps(
                yp.add(i),
                _mm256_fmadd_ps(av, w, _mm256_loadu_ps(yp.add(i))),
            );
            i += 8;
        }
    }
    for j in i..n {
        y[j] += a * row[j];
    }
}
