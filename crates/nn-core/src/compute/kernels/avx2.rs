//! The AVX2/FMA versions of the kernels' inner loops (x86-64), chosen at run time when
//! the processor has those instructions (and no AVX-512).

use super::*;
use std::arch::x86_64::*;

/// `|x|` lane by lane: AVX2 has no absolute value, so the sign bit is cleared.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn abs_ps(x: __m256) -> __m256 {
    _mm256_andnot_ps(_mm256_set1_ps(-0.0), x)
}

/// `|x|` lane by lane, for `f64`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn abs_pd(x: __m256d) -> __m256d {
    _mm256_andnot_pd(_mm256_set1_pd(-0.0), x)
}

vector_kernels!(
    "avx2,fma",
    f32,
    8,
    dot_f32,
    dot4_f32,
    dot4x2_f32,
    axpy_f32,
    axpy_dot4_f32,
    max_abs_f32,
    gemv_t_f32,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    _mm256_set1_ps,
    _mm256_mul_ps,
    _mm256_max_ps,
    abs_ps
);
vector_kernels!(
    "avx2,fma",
    f64,
    4,
    dot_f64,
    dot4_f64,
    dot4x2_f64,
    axpy_f64,
    axpy_dot4_f64,
    max_abs_f64,
    gemv_t_f64,
    _mm256_setzero_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_fmadd_pd,
    _mm256_add_pd,
    _mm256_set1_pd,
    _mm256_mul_pd,
    _mm256_max_pd,
    abs_pd
);

matrix_kernels!(
    "avx2,fma",
    dot_avx2,
    dot_after_avx2,
    dot4_avx2,
    dot4x2_avx2,
    axpy_avx2,
    axpy_dot4_avx2,
    max_abs_avx2,
    gemv_t_avx2
);
