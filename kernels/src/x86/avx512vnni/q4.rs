//! `q4` kernels at the `avx512vnni` level: the [`crate::x86::drive::q4`] driver with `vpdpbusd`
//! (unsigned codes × signed activations, four products per dword lane, no word sums to widen),
//! and the `avx512` level's f32 block scaling.
//!
//! gemv runs 4 row streams; gemm tiles are 4 rows × 4 tokens.

use crate::act::ActQ8;
use crate::format::q4::Q4Matrix;
use crate::x86::avx512::q4::avx512_q4;
use crate::x86::avx512vnni::Avx512Vnni;
use crate::x86::drive::{self, entries};

entries! {
    features: "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    token: Avx512Vnni,
    matrix: Q4Matrix,
    act: ActQ8,
    gemv: drive::q4::gemv::<_, 4>,
    gemm: drive::q4::gemm::<_, 4, 4>,
}

avx512_q4!(Avx512Vnni);
