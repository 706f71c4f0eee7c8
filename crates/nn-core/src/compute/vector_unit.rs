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

/// The environment variable that caps [`vector_unit`]: `avx2` or `baseline` make the
/// engine's own loops use no wider unit than that (as `ATEN_CPU_CAPABILITY` does for
/// PyTorch), to measure or check the narrower paths on a processor that has AVX-512.
/// It is read once, at the first call; any other value, or none, leaves the choice to
/// the processor. It does not reach the `gemm` crate's matrix products, which choose
/// their own instructions.
pub const MAX_VECTOR_UNIT_VARIABLE: &str = "NN_MAX_VECTOR_UNIT";

/// The widest [`VectorUnit`] this processor has, no wider than
/// [`MAX_VECTOR_UNIT_VARIABLE`] allows, or [`VectorUnit::Baseline`] on other
/// architectures and when the `portable` feature is on (which is how the portable code
/// that other architectures run is tested on x86-64).
///
/// Cheap enough to call on every kernel call: the answer is kept after the first.
#[inline]
pub fn vector_unit() -> VectorUnit {
    use std::sync::atomic::{AtomicU8, Ordering};
    // `NOT_CHOSEN` until the first call, then the unit's `code`.
    static CHOSEN: AtomicU8 = AtomicU8::new(NOT_CHOSEN);
    match unit_of(CHOSEN.load(Ordering::Relaxed)) {
        Some(unit) => unit,
        None => {
            let cap = std::env::var(MAX_VECTOR_UNIT_VARIABLE).ok();
            let unit = capped(detected(), cap.as_deref());
            CHOSEN.store(code(unit), Ordering::Relaxed);
            unit
        }
    }
}

/// What `vector_unit` keeps before its first call.
const NOT_CHOSEN: u8 = 0;

/// A unit as `vector_unit` keeps it.
fn code(unit: VectorUnit) -> u8 {
    match unit {
        VectorUnit::Avx512 => 1,
        VectorUnit::Avx2 => 2,
        VectorUnit::Baseline => 3,
    }
}

/// The unit of a [`code`], or `None` for [`NOT_CHOSEN`].
fn unit_of(code: u8) -> Option<VectorUnit> {
    match code {
        1 => Some(VectorUnit::Avx512),
        2 => Some(VectorUnit::Avx2),
        3 => Some(VectorUnit::Baseline),
        _ => None,
    }
}

/// The widest unit the processor has (and the build may use).
fn detected() -> VectorUnit {
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

/// `unit`, narrowed to what `cap` (the variable's value) names.
fn capped(unit: VectorUnit, cap: Option<&str>) -> VectorUnit {
    let width = |u: VectorUnit| match u {
        VectorUnit::Avx512 => 2,
        VectorUnit::Avx2 => 1,
        VectorUnit::Baseline => 0,
    };
    let cap = match cap.map(|c| c.trim().to_ascii_lowercase()).as_deref() {
        Some("avx2") => VectorUnit::Avx2,
        Some("baseline") => VectorUnit::Baseline,
        _ => return unit,
    };
    if width(cap) < width(unit) {
        cap
    } else {
        unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_unit_reads_back_as_itself() {
        for unit in [VectorUnit::Avx512, VectorUnit::Avx2, VectorUnit::Baseline] {
            assert_ne!(code(unit), NOT_CHOSEN);
            assert_eq!(unit_of(code(unit)), Some(unit));
        }
        assert_eq!(unit_of(NOT_CHOSEN), None);
        assert_eq!(
            vector_unit(),
            vector_unit(),
            "the kept answer is the first one"
        );
    }

    #[test]
    fn the_variable_only_narrows_the_unit() {
        use VectorUnit::*;
        for unit in [Avx512, Avx2, Baseline] {
            for ignored in [None, Some(""), Some("avx512"), Some("sse"), Some("fast")] {
                assert_eq!(capped(unit, ignored), unit, "{ignored:?}");
            }
            assert_eq!(capped(unit, Some("baseline")), Baseline);
            assert_eq!(capped(unit, Some(" BaseLine ")), Baseline);
        }
        assert_eq!(capped(Avx512, Some("avx2")), Avx2);
        assert_eq!(capped(Avx512, Some("AVX2")), Avx2);
        assert_eq!(capped(Avx2, Some("avx2")), Avx2);
        assert_eq!(capped(Baseline, Some("avx2")), Baseline);
    }

    #[test]
    fn the_portable_feature_and_other_architectures_use_the_baseline() {
        if std::env::var_os(MAX_VECTOR_UNIT_VARIABLE).is_some() {
            return;
        }
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
