//! The first layer's share of a block of per-sample SGD steps: the updates of the block
//! before, and the products of this block's samples, in one pass over the weights.
//!
//! Per-sample SGD reads the first layer's `W` twice a step (the product `W·x`, the
//! update `W -= learning_rate·delta·xᵀ`); when `W` does not fit in the L1 cache
//! (784→16 in `f64` is 98 KB), those passes are the step. Taking `B` samples at a time,
//! with `W` the weights before the block and `u_j = learning_rate_j·delta_j`,
//!
//! ```text
//! W_k·x_k = (W − Σ_{j<k} u_j·x_jᵀ)·x_k = W·x_k − Σ_{j<k} (x_j·x_k)·u_j
//! ```
//!
//! so every sample's product comes from one pass over `W` that multiplies it by all `B`
//! samples, plus dot products between the block's samples; the block's `B` updates are
//! then one rank-`B` update, which the next block's pass applies before its products.
//! One load and one store of `W` serve `B` steps.
//!
//! The pass walks `W` by columns, so it takes `Wᵀ` (`(cols, rows)`, row-major): each
//! column's `rows` entries sit in a few vector registers while all `B` updates and `B`
//! products go through them, and each sample is read once, one entry a column.

use super::kernels::Rank1;
#[cfg(target_arch = "x86_64")]
use super::vector_unit::{vector_unit, VectorUnit};
use crate::Float;

/// How many samples one pass takes, and how many updates it applies: with 16 rows in
/// `f64` (two AVX-512 registers a column), 5 updates and 5 products keep their 22
/// registers of factors and sums out of memory. On an Intel Xeon with AVX-512, 784→16
/// in `f64` on 64 hot images, a prototype of the pass took 1.90 µs a sample taking one
/// at a time, 0.75 with 4, 0.66 with 6, 0.70 with 8; the series' loop from Python
/// (streaming Fashion-MNIST, three alternations) 3.28–3.42 µs a step with 5 against
/// 3.65–3.70 with 6 (and 3.65–3.74 with 8).
pub const BLOCK_SAMPLES: usize = 5;

/// The rows one pass holds in registers. `rows` must be a multiple of it: pad `Wᵀ` with
/// zero columns, and the updates' `u` with zeros (their products are then zero too).
pub const BLOCK_ROWS: usize = 16;

/// For each of `updates` in turn, `W += alpha·u·vᵀ`; then `products[k] = W·xs[k]` with
/// the updated `W`, for each of the `B` = [`BLOCK_SAMPLES`] samples `xs`. `wt` holds
/// `Wᵀ`, `(cols, rows)` row-major, and is updated in place.
///
/// An update with `alpha = 0` and zero vectors leaves `W` unchanged, bit for bit, and a
/// zero sample's product is zero: a block of fewer samples or updates is padded so.
///
/// Every entry is updated by fused multiply-adds in the order of `updates` (as
/// [`super::kernels::rank1_update`] adds `alpha·u_i` times `v`), so `W` after the pass
/// does not depend on the vector unit; the products sum each row column by column, one
/// fused multiply-add a column, on every unit but the portable code of a processor
/// without FMA, which rounds each product first.
///
/// # Shapes
/// `wt` has `cols·rows` entries, `rows` a multiple of [`BLOCK_ROWS`]; every update's `u`
/// has `rows` entries and its `v` `cols`; every `xs[k]` has `cols`; `products` has
/// `BLOCK_SAMPLES·rows`, sample `k`'s at `k·rows..(k + 1)·rows`.
///
/// # Panics
/// If the lengths do not fit.
pub fn updates_and_products<F: Float>(
    wt: &mut [F],
    rows: usize,
    updates: &[Rank1<'_, F>; BLOCK_SAMPLES],
    xs: [&[F]; BLOCK_SAMPLES],
    products: &mut [F],
) {
    assert!(
        rows > 0 && rows.is_multiple_of(BLOCK_ROWS) && wt.len().is_multiple_of(rows),
        "updates_and_products: rows"
    );
    let cols = wt.len() / rows;
    assert!(
        updates
            .iter()
            .all(|r| r.u.len() == rows && r.v.len() == cols)
            && xs.iter().all(|x| x.len() == cols)
            && products.len() == BLOCK_SAMPLES * rows,
        "updates_and_products shapes"
    );
    #[cfg(target_arch = "x86_64")]
    match vector_unit() {
        // SAFETY: the processor has AVX-512F, AVX2 and FMA (`vector_unit`).
        VectorUnit::Avx512 => return unsafe { avx512(wt, rows, updates, xs, products) },
        // SAFETY: the processor has AVX2 and FMA (`vector_unit`).
        VectorUnit::Avx2 => return unsafe { avx2(wt, rows, updates, xs, products) },
        VectorUnit::Baseline => {}
    }
    portable(wt, rows, updates, xs, products)
}

/// [`updates_and_products`] compiled for AVX-512: the compiler turns the fixed-size loops
/// of `pass` into two registers a column in `f64`, one in `f32`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512<F: Float>(
    wt: &mut [F],
    rows: usize,
    updates: &[Rank1<'_, F>; BLOCK_SAMPLES],
    xs: [&[F]; BLOCK_SAMPLES],
    products: &mut [F],
) {
    pass::<F, true>(wt, rows, updates, xs, products)
}

/// [`updates_and_products`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<F: Float>(
    wt: &mut [F],
    rows: usize,
    updates: &[Rank1<'_, F>; BLOCK_SAMPLES],
    xs: [&[F]; BLOCK_SAMPLES],
    products: &mut [F],
) {
    pass::<F, true>(wt, rows, updates, xs, products)
}

/// [`updates_and_products`] in the build's baseline. Without FMA in the baseline (x86-64),
/// `mul_add` would be a library call a term, so products are rounded first there.
fn portable<F: Float>(
    wt: &mut [F],
    rows: usize,
    updates: &[Rank1<'_, F>; BLOCK_SAMPLES],
    xs: [&[F]; BLOCK_SAMPLES],
    products: &mut [F],
) {
    pass::<F, { cfg!(target_feature = "fma") || cfg!(target_arch = "aarch64") }>(
        wt, rows, updates, xs, products,
    )
}

/// `a·b + c`, fused when `FMA`.
#[inline(always)]
fn multiply_add<F: Float, const FMA: bool>(a: F, b: F, c: F) -> F {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// The pass, on [`BLOCK_ROWS`] rows at a time: each column's entries, updated and
/// multiplied in registers.
#[inline(always)]
fn pass<F: Float, const FMA: bool>(
    wt: &mut [F],
    rows: usize,
    updates: &[Rank1<'_, F>; BLOCK_SAMPLES],
    xs: [&[F]; BLOCK_SAMPLES],
    products: &mut [F],
) {
    const R: usize = BLOCK_ROWS;
    const B: usize = BLOCK_SAMPLES;
    let cols = wt.len() / rows;
    for chunk in 0..rows / R {
        let first = chunk * R;
        // `alpha·u` of each update on these rows, as `rank1_update` scales it.
        let scaled: [[F; R]; B] = std::array::from_fn(|j| {
            let u = &updates[j].u[first..first + R];
            std::array::from_fn(|r| updates[j].alpha * u[r])
        });
        let vs: [&[F]; B] = std::array::from_fn(|j| &updates[j].v[..cols]);
        let xs: [&[F]; B] = std::array::from_fn(|k| &xs[k][..cols]);
        let mut sums = [[F::zero(); R]; B];
        for c in 0..cols {
            let column = &mut wt[c * rows + first..c * rows + first + R];
            let mut w: [F; R] = std::array::from_fn(|r| column[r]);
            for j in 0..B {
                let v = vs[j][c];
                for r in 0..R {
                    w[r] = multiply_add::<F, FMA>(scaled[j][r], v, w[r]);
                }
            }
            column.copy_from_slice(&w);
            for k in 0..B {
                let x = xs[k][c];
                for r in 0..R {
                    sums[k][r] = multiply_add::<F, FMA>(w[r], x, sums[k][r]);
                }
            }
        }
        for (k, sum) in sums.iter().enumerate() {
            products[k * rows + first..k * rows + first + R].copy_from_slice(sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pass on every vector unit the processor has equals the updates applied one by
    /// one to `W` followed by each product, in `f64` within rounding; padded updates and
    /// samples change nothing.
    fn check<F: Float>(rows: usize, cols: usize, used_updates: usize, used_xs: usize) {
        let value = |i: usize, s: usize| F::from_f64(((i * 37 + s * 11) % 23) as f64 / 7.0 - 1.5);
        let w0: Vec<F> = (0..rows * cols).map(|i| value(i, 1)).collect(); // row-major W
                                                                          // `BLOCK_SAMPLES` vectors of `len` entries, zeros past the first `used` (padding).
        let vectors = |len: usize, used: usize, seed: usize| -> Vec<Vec<F>> {
            (0..BLOCK_SAMPLES)
                .map(|j| {
                    (0..len)
                        .map(|i| {
                            if j < used {
                                value(i, j + seed)
                            } else {
                                F::zero()
                            }
                        })
                        .collect()
                })
                .collect()
        };
        let (us, vs) = (
            vectors(rows, used_updates, 2),
            vectors(cols, used_updates, 9),
        );
        let xs = vectors(cols, used_xs, 17);
        let alphas: Vec<F> = (0..BLOCK_SAMPLES)
            .map(|j| {
                if j < used_updates {
                    F::from_f64(-0.25 * (j + 1) as f64)
                } else {
                    F::zero()
                }
            })
            .collect();
        // The reference, in f64: the updates in turn, then the products.
        let mut w: Vec<f64> = w0.iter().map(|v| v.as_f64()).collect();
        for j in 0..BLOCK_SAMPLES {
            for r in 0..rows {
                for c in 0..cols {
                    w[r * cols + c] += alphas[j].as_f64() * us[j][r].as_f64() * vs[j][c].as_f64();
                }
            }
        }
        let products: Vec<f64> = (0..BLOCK_SAMPLES)
            .flat_map(|k| {
                let w = &w;
                let x = &xs[k];
                (0..rows).map(move |r| (0..cols).map(|c| w[r * cols + c] * x[c].as_f64()).sum())
            })
            .collect();
        let updates: [Rank1<'_, F>; BLOCK_SAMPLES] = std::array::from_fn(|j| Rank1 {
            alpha: alphas[j],
            u: &us[j],
            v: &vs[j],
        });
        let samples: [&[F]; BLOCK_SAMPLES] = std::array::from_fn(|k| &xs[k][..]);
        type Pass<F> =
            fn(&mut [F], usize, &[Rank1<'_, F>; BLOCK_SAMPLES], [&[F]; BLOCK_SAMPLES], &mut [F]);
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut passes: Vec<(&str, Pass<F>)> = vec![
            ("dispatched", updates_and_products::<F>),
            ("portable", portable::<F>),
        ];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the processor has AVX2 and FMA.
                passes.push(("avx2", |w, r, u, x, p| unsafe { avx2(w, r, u, x, p) }));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the processor has AVX-512F (and so AVX2 and FMA).
                passes.push(("avx512", |w, r, u, x, p| unsafe { avx512(w, r, u, x, p) }));
            }
        }
        let tolerance = if F::DTYPE == crate::float::Dtype::F32 {
            1e-3
        } else {
            1e-10
        };
        for (name, pass) in passes {
            let mut wt: Vec<F> = (0..cols * rows)
                .map(|i| w0[(i % rows) * cols + i / rows])
                .collect();
            let mut got = vec![F::from_f64(f64::NAN); BLOCK_SAMPLES * rows];
            pass(&mut wt, rows, &updates, samples, &mut got);
            for r in 0..rows {
                for c in 0..cols {
                    let (a, b) = (wt[c * rows + r].as_f64(), w[r * cols + c]);
                    assert!(
                        (a - b).abs() <= tolerance * (1.0 + b.abs()),
                        "{name} W[{r},{c}] {a} {b}"
                    );
                    if used_updates == 0 {
                        assert_eq!(
                            wt[c * rows + r],
                            w0[r * cols + c],
                            "{name}: no update, no change"
                        );
                    }
                }
            }
            for (i, (&a, &b)) in got.iter().zip(&products).enumerate() {
                let a = a.as_f64();
                assert!(
                    (a - b).abs() <= tolerance * (1.0 + b.abs()),
                    "{name} product {i}: {a} {b}"
                );
                if i / rows >= used_xs {
                    assert_eq!(a, 0.0, "{name}: a padded sample's product");
                }
            }
        }
    }

    #[test]
    fn the_pass_equals_the_updates_then_the_products() {
        const B: usize = BLOCK_SAMPLES;
        for (rows, cols, updates, xs) in [
            (16, 784, B, B),
            (32, 37, 3, B),
            (16, 1, B, 2),
            (48, 100, 0, B - 1),
            (16, 9, B, 0),
        ] {
            check::<f64>(rows, cols, updates, xs);
            check::<f32>(rows, cols, updates, xs);
        }
    }

    #[test]
    #[should_panic(expected = "updates_and_products: rows")]
    fn rows_must_be_whole_blocks() {
        let mut wt = vec![0.0f64; 10 * 3];
        let zeros = [0.0f64; 10];
        let unused = Rank1 {
            alpha: 0.0,
            u: &zeros[..10],
            v: &zeros[..3],
        };
        let updates = [unused; BLOCK_SAMPLES];
        updates_and_products(
            &mut wt,
            10,
            &updates,
            [&zeros[..3]; BLOCK_SAMPLES],
            &mut [0.0; 60],
        );
    }
}
