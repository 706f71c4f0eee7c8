//! Which vector instructions the engine's own loops use, chosen once per call at run time
//! so that one binary is right on every x86-64 processor.

/// The widest vector unit the kernels and elementwise loops may use on this processor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorUnit {
    /// AVX-512F (with AVX2 and FMA): 16 lanes of `f32`.
    Avx512,
    /// AVX2 with FMA: 8 lanes of `f32`.
    Avx2,
    /// The build's baseline (SSE2 on x86-64, NEON on aarch64) through portable code that
    /// the compiler vectorises.
    Baseline,
}

/// The widest [`VectorUnit`] this processor has, or [`VectorUnit::Baseline`] on other
/// architectures and when the `portable` feature is on (which is how the portable code
/// that other architectures run is tested on x86-64).
///
/// Cheap enough to call on every kernel call: the standard library caches the processor's
/// features after the first query.
#[inline]
pub fn vector_unit() -> VectorUnit {
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx2") && has!("fma") {
            return VectorUnit::Avx512;
        }
        if has!("avx2") && has!("fma") {
            return VectorUnit::Avx2;
        }
    }
    VectorUnit::Baseline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portable_feature_and_other_architectures_use_the_baseline() {
        let forced = cfg!(feature = "portable") || !cfg!(target_arch = "x86_64");
        if forced {
            assert_eq!(vector_unit(), VectorUnit::Baseline);
        } else {
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                let expected = if has!("avx512f") && has!("avx2") && has!("fma") {
                    VectorUnit::Avx512
                } else if has!("avx2") && has!("fma") {
                    VectorUnit::Avx2
                } else {
                    VectorUnit::Baseline
                };
                assert_eq!(vector_unit(), expected);
            }
        }
    }
}
