//! The one float trait of the library, implemented for `f32` and `f64` only.

use ndarray::NdFloat;

pub(crate) mod sealed {
    /// Seals [`super::Float`], and carries the explicitly vectorised kernels of each type
    /// (implemented in `compute/kernels.rs`).
    pub trait Sealed: Sized + Copy {
        /// AVX2/FMA dot product.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dot_avx2(a: &[Self], b: &[Self]) -> Self;

        /// AVX2/FMA dot product `a'·b` of `a' = a + Σ_u alphas[u]·vs[u]` (the updates in
        /// registers, `a` only read), with the bits of the updates followed by
        /// `dot_avx2(a', b)`.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA; every `vs[u]` holds at least
        /// `min(a.len(), b.len())` entries.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dot_after_avx2<const K: usize>(
            alphas: [Self; K],
            vs: [&[Self]; K],
            a: &[Self],
            b: &[Self],
        ) -> Self;

        /// AVX2/FMA dot products of four rows with one vector.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dot4_avx2(rows: [&[Self]; 4], x: &[Self]) -> [Self; 4];

        /// `dot4_avx2` of the same four rows with two vectors, each row loaded once for
        /// both: `out[c][r] = rows[r]·x[c]`, with the bits of `dot4_avx2(rows, x[c])`.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dot4x2_avx2(rows: [&[Self]; 4], x: [&[Self]; 2]) -> [[Self; 4]; 2];

        /// AVX2/FMA `y += alpha·x`.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn axpy_avx2(alpha: Self, x: &[Self], y: &mut [Self]);

        /// AVX2/FMA: four rows after `K` pending updates `rows[r] += alphas[u][r]·vs[u]`,
        /// stored back when `STORE`, multiplied by `x`, in one pass.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA; each `rows[r]` points to `n` entries,
        /// writable when `STORE`, that no other argument overlaps; `x` and every `vs[u]`
        /// hold at least `n` entries.
        #[cfg(target_arch = "x86_64")]
        unsafe fn axpy_dot4_avx2<const K: usize, const STORE: bool>(
            alphas: [[Self; 4]; K],
            vs: [&[Self]; K],
            x: &[Self],
            rows: [*mut Self; 4],
            n: usize,
        ) -> [Self; 4];

        /// AVX2/FMA `out = Wᵀ·v` for a contiguous row-major `W` of `cols` columns and
        /// `v.len()` rows, with the bits of `out = 0` then `axpy(v[i], W[i, :], out)` row
        /// after row, each column's sum held in a register.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA; `w` must hold `v.len()·cols` entries and
        /// `out` `cols`.
        #[cfg(target_arch = "x86_64")]
        unsafe fn gemv_t_avx2(w: &[Self], cols: usize, v: &[Self], out: &mut [Self]);

        /// AVX2 `max |v_i|`, NaN if an entry is not finite.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn max_abs_avx2(v: &[Self]) -> Self;

        /// AVX-512F dot product.
        ///
        /// # Safety
        /// The processor must support AVX-512F and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dot_avx512(a: &[Self], b: &[Self]) -> Self;

        /// AVX-512F dot product `a'·b` of `a' = a + Σ_u alphas[u]·vs[u]` (the updates in
        /// registers, `a` only read), with the bits of the updates followed by
        /// `dot_avx512(a', b)`.
        ///
        /// # Safety
        /// The processor must support AVX-512F, AVX2 and FMA; every `vs[u]` holds at least
        /// `min(a.len(), b.len())` entries.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dot_after_avx512<const K: usize>(
            alphas: [Self; K],
            vs: [&[Self]; K],
            a: &[Self],
            b: &[Self],
        ) -> Self;

        /// AVX-512F dot products of four rows with one vector.
        ///
        /// # Safety
        /// The processor must support AVX-512F and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dot4_avx512(rows: [&[Self]; 4], x: &[Self]) -> [Self; 4];

        /// `dot4_avx512` of the same four rows with two vectors, each row loaded once for
        /// both: `out[c][r] = rows[r]·x[c]`, with the bits of `dot4_avx512(rows, x[c])`.
        ///
        /// # Safety
        /// The processor must support AVX-512F, AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dot4x2_avx512(rows: [&[Self]; 4], x: [&[Self]; 2]) -> [[Self; 4]; 2];

        /// AVX-512F `y += alpha·x`.
        ///
        /// # Safety
        /// The processor must support AVX-512F and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn axpy_avx512(alpha: Self, x: &[Self], y: &mut [Self]);

        /// AVX-512F: four rows after `K` pending updates `rows[r] += alphas[u][r]·vs[u]`,
        /// stored back when `STORE`, multiplied by `x`, in one pass.
        ///
        /// # Safety
        /// The processor must support AVX-512F, AVX2 and FMA; each `rows[r]` points to `n` entries,
        /// writable when `STORE`, that no other argument overlaps; `x` and every `vs[u]`
        /// hold at least `n` entries.
        #[cfg(target_arch = "x86_64")]
        unsafe fn axpy_dot4_avx512<const K: usize, const STORE: bool>(
            alphas: [[Self; 4]; K],
            vs: [&[Self]; K],
            x: &[Self],
            rows: [*mut Self; 4],
            n: usize,
        ) -> [Self; 4];

        /// AVX-512F `out = Wᵀ·v` for a contiguous row-major `W` of `cols` columns and
        /// `v.len()` rows, with the bits of `out = 0` then `axpy(v[i], W[i, :], out)` row
        /// after row, each column's sum held in a register.
        ///
        /// # Safety
        /// The processor must support AVX-512F, AVX2 and FMA; `w` must hold `v.len()·cols` entries and
        /// `out` `cols`.
        #[cfg(target_arch = "x86_64")]
        unsafe fn gemv_t_avx512(w: &[Self], cols: usize, v: &[Self], out: &mut [Self]);

        /// AVX-512F `max |v_i|`, NaN if an entry is not finite.
        ///
        /// # Safety
        /// The processor must support AVX-512F and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn max_abs_avx512(v: &[Self]) -> Self;
    }

    #[cfg(not(target_arch = "x86_64"))]
    impl Sealed for f32 {}
    #[cfg(not(target_arch = "x86_64"))]
    impl Sealed for f64 {}
}

/// The element type of a tensor, as model files and NumPy name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// `f32`: IEEE 754 binary32.
    F32,
    /// `f64`: IEEE 754 binary64.
    F64,
}

impl Dtype {
    /// The name safetensors gives it: `"F32"` or `"F64"`.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A floating-point scalar the library computes with: `f32` or `f64`.
///
/// It is [`ndarray::NdFloat`] (so arrays of it multiply with `general_mat_mul`, and it has
/// every method of `num_traits::Float`) plus the two conversions the library needs to
/// write constants and report values. The trait is sealed: there is no third float type.
pub trait Float: NdFloat + Default + sealed::Sealed {
    /// Which of the two types this is.
    const DTYPE: Dtype;

    /// Converts an `f64` to this type, rounding to nearest for `f32`.
    fn from_f64(value: f64) -> Self;

    /// Widens this value to `f64` (exact for both types).
    fn as_f64(self) -> f64;
}

impl Float for f32 {
    const DTYPE: Dtype = Dtype::F32;

    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value as f32
    }

    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    const DTYPE: Dtype = Dtype::F64;

    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value
    }

    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_exactly_representable_values() {
        assert_eq!(<f32 as Float>::from_f64(0.5), 0.5f32);
        assert_eq!(<f64 as Float>::from_f64(0.1), 0.1f64);
        assert_eq!(Float::as_f64(0.25f32), 0.25f64);
        assert_eq!(<f32 as Float>::DTYPE, Dtype::F32);
        assert_eq!(<f64 as Float>::DTYPE.name(), "F64");
        assert_eq!(Dtype::F32.to_string(), "F32");
    }
}
