//! The one float trait of the library, implemented for `f32` and `f64` only.

use ndarray::NdFloat;

pub(crate) mod sealed {
    /// Seals [`super::Float`], and carries the explicitly vectorised kernels of each type
    /// (implemented in `kernels.rs`).
    pub trait Sealed: Sized + Copy {
        /// AVX2/FMA dot product.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dot_avx2(a: &[Self], b: &[Self]) -> Self;

        /// AVX2/FMA dot products of four rows with one vector.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn dot4_avx2(rows: [&[Self]; 4], x: &[Self]) -> [Self; 4];

        /// AVX2/FMA `y += alpha·x`.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn axpy_avx2(alpha: Self, x: &[Self], y: &mut [Self]);

        /// AVX2 `max |v_i|`, NaN if an entry is not finite.
        ///
        /// # Safety
        /// The processor must support AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        unsafe fn max_abs_avx2(v: &[Self]) -> Self;
    }

    #[cfg(not(target_arch = "x86_64"))]
    impl Sealed for f32 {}
    #[cfg(not(target_arch = "x86_64"))]
    impl Sealed for f64 {}
}

/// A floating-point scalar the library computes with: `f32` or `f64`.
///
/// It is [`ndarray::NdFloat`] (so arrays of it multiply with `general_mat_mul`, and it has
/// every method of `num_traits::Float`) plus the two conversions the library needs to
/// write constants and report values. The trait is sealed: there is no third float type.
pub trait Float: NdFloat + Default + sealed::Sealed {
    /// The type's name as the safetensors and NumPy conventions spell it: `"F32"` or `"F64"`.
    const DTYPE: &'static str;

    /// Converts an `f64` to this type, rounding to nearest for `f32`.
    fn from_f64(value: f64) -> Self;

    /// Widens this value to `f64` (exact for both types).
    fn as_f64(self) -> f64;
}

impl Float for f32 {
    const DTYPE: &'static str = "F32";

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
    const DTYPE: &'static str = "F64";

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
        assert_eq!(<f32 as Float>::DTYPE, "F32");
        assert_eq!(<f64 as Float>::DTYPE, "F64");
    }
}
