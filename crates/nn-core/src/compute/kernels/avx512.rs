//! The AVX-512 versions of the kernels' inner loops (x86-64), chosen at run time when the
//! processor has AVX-512F: twice the lanes of AVX2, so half the instructions for the
//! same work (the per-sample step is as much bound by issuing them as by its loads).

use super::*;
use std::arch::x86_64::*;

vector_kernels!(
    "avx512f,avx2,fma",
    f32,
    16,
    dot_f32,
    dot4_f32,
    dot4x2_f32,
    axpy_f32,
    axpy_dot4_f32,
    max_abs_f32,
    gemv_t_f32,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_set1_ps,
    _mm512_mul_ps,
    _mm512_max_ps,
    _mm512_abs_ps
);
vector_kernels!(
    "avx512f,avx2,fma",
    f64,
    8,
    dot_f64,
    dot4_f64,
    dot4x2_f64,
    axpy_f64,
    axpy_dot4_f64,
    max_abs_f64,
    gemv_t_f64,
    _mm512_setzero_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_fmadd_pd,
    _mm512_add_pd,
    _mm512_set1_pd,
    _mm512_mul_pd,
    _mm512_max_pd,
    _mm512_abs_pd
);

matrix_kernels!(
    "avx512f,avx2,fma",
    dot_avx512,
    dot_after_avx512,
    dot4_avx512,
    dot4x2_avx512,
    axpy_avx512,
    axpy_dot4_avx512,
    max_abs_avx512,
    gemv_t_avx512
);
