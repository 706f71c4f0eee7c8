//! The macros that write the x86-64 kernels from an instruction set's intrinsics: one
//! body for AVX2 (`avx2.rs`) and AVX-512 (`avx512.rs`), so that the two cannot drift
//! apart.

/// The sum of a vector's lanes, pairwise: `lanes[k] + lanes[k + L/2]`, and so on down to
/// one lane. Every kernel that ends a product with it ends it the same way, so that a
/// row's dot product has the same bits whichever kernel computed it. Four levels of adds
/// for 16 lanes, where a sum from left to right waits on 15 in a row (about 60 cycles
/// of latency a row, which showed in the small layers' products of a per-sample step).
#[inline(always)]
pub(super) fn sum_lanes<T, const L: usize>(lanes: [T; L]) -> T
where
    T: Copy + std::ops::Add<Output = T>,
{
    pairwise(lanes, |a, b| a + b)
}

/// `lanes` reduced by `op` pairwise: `op(lanes[k], lanes[k + L/2])`, and so on down to
/// one lane (`L` a power of two).
#[inline(always)]
pub(super) fn pairwise<T: Copy, const L: usize>(mut lanes: [T; L], op: impl Fn(T, T) -> T) -> T {
    let mut width = L;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            lanes[k] = op(lanes[k], lanes[k + width]);
        }
    }
    lanes[0]
}

/// The rows of a row-major `w` of `cols > 0` columns in blocks of four (the rows the
/// four-row kernels take together), and the rows after the last whole block.
#[inline(always)]
pub(super) fn row_blocks<F>(w: &[F], cols: usize) -> (impl Iterator<Item = [&[F]; 4]>, &[F]) {
    let blocks = w.chunks_exact(4 * cols);
    let rest = blocks.remainder();
    let blocks = blocks.map(move |block| {
        let (r0, tail) = block.split_at(cols);
        let (r1, tail) = tail.split_at(cols);
        let (r2, r3) = tail.split_at(cols);
        [r0, r1, r2, r3]
    });
    (blocks, rest)
}

/// The vector kernels of one element type for one instruction set (`$feature`, e.g.
/// `"avx2,fma"`), from its intrinsics: compilers vectorise the generic loops of
/// `kernels.rs` only partly, and these loops are nearly all the per-sample step's time.
macro_rules! vector_kernels {
    ($feature:literal, $t:ty, $lanes:expr, $dot:ident, $dot4:ident, $dot4x2:ident,
     $axpy:ident, $axpy_dot4:ident,
     $max_abs:ident, $gemv_t:ident, $zero:ident, $load:ident, $store:ident, $fmadd:ident,
     $add:ident, $set1:ident, $mul:ident, $max:ident, $abs:ident) => {
        /// `max |v|`, or NaN when an entry is NaN or infinite (`x·0` is 0 for finite `x`
        /// and NaN otherwise: the flags' sum). A per-sample step calls it on its input
        /// and on each layer's short output and delta (10–16 entries), so the tail ends
        /// matter as much as the loop: one more vector before the scalar rest, and the
        /// lanes reduced pairwise, not one after the other.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $max_abs(v: &[$t]) -> $t {
            const L: usize = $lanes;
            let n = v.len();
            let p = v.as_ptr();
            let zero = $zero();
            let (mut max, mut flags) = ([zero; 2], [zero; 2]);
            let mut i = 0;
            // SAFETY: every load reads lanes i..i+L with i + L <= n.
            unsafe {
                while i + 2 * L <= n {
                    for k in 0..2 {
                        let x = $load(p.add(i + k * L));
                        max[k] = $max(max[k], $abs(x));
                        flags[k] = $add(flags[k], $mul(x, zero));
                    }
                    i += 2 * L;
                }
                if i + L <= n {
                    let x = $load(p.add(i));
                    max[0] = $max(max[0], $abs(x));
                    flags[0] = $add(flags[0], $mul(x, zero));
                    i += L;
                }
            }
            let (mut largest, mut flag) = ([0.0 as $t; L], [0.0 as $t; L]);
            // SAFETY: each array holds exactly one vector.
            unsafe {
                $store(largest.as_mut_ptr(), $max(max[0], max[1]));
                $store(flag.as_mut_ptr(), $add(flags[0], flags[1]));
            }
            // A plain comparison, not `max` (whose NaN handling costs a compare and a
            // blend): a NaN is in `flag` already.
            let larger = |a: $t, b: $t| if a > b { a } else { b };
            let (mut m, mut flag) = (
                super::simd::pairwise(largest, larger),
                super::simd::sum_lanes(flag),
            );
            for &x in &v[i..] {
                m = larger(m, x.abs());
                flag += x * 0.0;
            }
            m + flag
        }

        /// The dot product `a'·b` of `a' = a + Σ_u alphas[u]·vs[u]` (the `K` updates added
        /// in turn by fused multiply-adds, as `$axpy` would, but in registers: `a` is only
        /// read) with `b`: with `K = 0`, the plain dot product `a·b`, which every single
        /// row's product goes through, so that a row's product after pending updates has
        /// the bits of the update followed by the product.
        ///
        /// # Safety
        /// Every `vs[u]` holds at least `min(a.len(), b.len())` entries.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $dot<const K: usize>(
            alphas: [$t; K],
            vs: [&[$t]; K],
            a: &[$t],
            b: &[$t],
        ) -> $t {
            const L: usize = $lanes;
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut pv = [pa; K];
            let mut va = [$zero(); K];
            for u in 0..K {
                pv[u] = vs[u].as_ptr();
                va[u] = $set1(alphas[u]);
            }
            let mut acc = [$zero(); 4];
            let mut i = 0;
            // SAFETY: every load reads lanes i..i+L with i + L <= n, within `a`, `b` and
            // (the caller promised) every `vs[u]`.
            unsafe {
                let updated = |j: usize| {
                    let mut w = $load(pa.add(j));
                    for u in 0..K {
                        w = $fmadd(va[u], $load(pv[u].add(j)), w);
                    }
                    w
                };
                while i + 4 * L <= n {
                    for (k, acc) in acc.iter_mut().enumerate() {
                        let j = i + k * L;
                        *acc = $fmadd(updated(j), $load(pb.add(j)), *acc);
                    }
                    i += 4 * L;
                }
                while i + L <= n {
                    acc[0] = $fmadd(updated(i), $load(pb.add(i)), acc[0]);
                    i += L;
                }
            }
            let sum = $add($add(acc[0], acc[1]), $add(acc[2], acc[3]));
            let mut lanes = [0.0 as $t; L];
            // SAFETY: `lanes` holds exactly one vector.
            unsafe { $store(lanes.as_mut_ptr(), sum) };
            let mut total = super::simd::sum_lanes(lanes);
            for k in i..n {
                let mut w = a[k];
                for u in 0..K {
                    w = alphas[u].mul_add(vs[u][k], w);
                }
                total = w.mul_add(b[k], total);
            }
            total
        }

        /// Four dot products `rows[r]·x` at once: each vector of `x` is loaded once
        /// for four rows, which relieves the load ports that bound a single dot.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $dot4(rows: [&[$t]; 4], x: &[$t]) -> [$t; 4] {
            const L: usize = $lanes;
            let n = rows.iter().fold(x.len(), |n, r| n.min(r.len()));
            let px = x.as_ptr();
            let pr = rows.map(|r| r.as_ptr());
            let mut acc = [[$zero(); 2]; 4];
            let mut i = 0;
            // SAFETY: every load reads lanes i..i+L with i + L <= n.
            unsafe {
                while i + 2 * L <= n {
                    for k in 0..2 {
                        let xv = $load(px.add(i + k * L));
                        for r in 0..4 {
                            acc[r][k] = $fmadd($load(pr[r].add(i + k * L)), xv, acc[r][k]);
                        }
                    }
                    i += 2 * L;
                }
                while i + L <= n {
                    let xv = $load(px.add(i));
                    for r in 0..4 {
                        acc[r][0] = $fmadd($load(pr[r].add(i)), xv, acc[r][0]);
                    }
                    i += L;
                }
            }
            let mut out = [0.0 as $t; 4];
            for r in 0..4 {
                let mut lanes = [0.0 as $t; L];
                // SAFETY: `lanes` holds exactly one vector.
                unsafe { $store(lanes.as_mut_ptr(), $add(acc[r][0], acc[r][1])) };
                let mut total = super::simd::sum_lanes(lanes);
                for k in i..n {
                    total = rows[r][k].mul_add(x[k], total);
                }
                out[r] = total;
            }
            out
        }

        /// `$dot4` of the same four rows with two vectors: each vector of a row is loaded
        /// once for both products. Per row and vector, the same operations in the same
        /// order as `$dot4`, so the same bits: two samples of a small batch get the
        /// outputs they would get alone, for about the memory traffic of one.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $dot4x2(rows: [&[$t]; 4], x: [&[$t]; 2]) -> [[$t; 4]; 2] {
            const L: usize = $lanes;
            let n = rows
                .iter()
                .fold(x[0].len().min(x[1].len()), |n, r| n.min(r.len()));
            let px = x.map(|x| x.as_ptr());
            let pr = rows.map(|r| r.as_ptr());
            let mut acc = [[[$zero(); 2]; 4]; 2];
            let mut i = 0;
            // SAFETY: every load reads lanes i..i+L with i + L <= n.
            unsafe {
                while i + 2 * L <= n {
                    for k in 0..2 {
                        let j = i + k * L;
                        let xv = [$load(px[0].add(j)), $load(px[1].add(j))];
                        for r in 0..4 {
                            let w = $load(pr[r].add(j));
                            acc[0][r][k] = $fmadd(w, xv[0], acc[0][r][k]);
                            acc[1][r][k] = $fmadd(w, xv[1], acc[1][r][k]);
                        }
                    }
                    i += 2 * L;
                }
                while i + L <= n {
                    let xv = [$load(px[0].add(i)), $load(px[1].add(i))];
                    for r in 0..4 {
                        let w = $load(pr[r].add(i));
                        acc[0][r][0] = $fmadd(w, xv[0], acc[0][r][0]);
                        acc[1][r][0] = $fmadd(w, xv[1], acc[1][r][0]);
                    }
                    i += L;
                }
            }
            let mut out = [[0.0 as $t; 4]; 2];
            for c in 0..2 {
                for r in 0..4 {
                    let mut lanes = [0.0 as $t; L];
                    // SAFETY: `lanes` holds exactly one vector.
                    unsafe { $store(lanes.as_mut_ptr(), $add(acc[c][r][0], acc[c][r][1])) };
                    let mut total = super::simd::sum_lanes(lanes);
                    for k in i..n {
                        total = rows[r][k].mul_add(x[c][k], total);
                    }
                    out[c][r] = total;
                }
            }
            out
        }

        /// Four rows after `K` pending updates, multiplied in one pass: `rows[r]' =
        /// rows[r] + Σ_u alphas[u][r]·vs[u]` (each update a fused multiply-add, in turn),
        /// stored back when `STORE`, and `rows[r]'·x`, each vector of a row loaded once
        /// (`$axpy` then `$dot4` would load it twice, and store it). The same operations in
        /// the same order as those two, so the same bits; without `STORE`, the rows are
        /// only read, and the products are those the rows will have once updated.
        ///
        /// # Safety
        /// Each `rows[r]` points to `n` entries, writable when `STORE`, that no other
        /// argument overlaps; `x` and every `vs[u]` hold at least `n` entries.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $axpy_dot4<const K: usize, const STORE: bool>(
            alphas: [[$t; 4]; K],
            vs: [&[$t]; K],
            x: &[$t],
            pr: [*mut $t; 4],
            n: usize,
        ) -> [$t; 4] {
            const L: usize = $lanes;
            let px = x.as_ptr();
            let mut pv = [px; K];
            let mut va = [[$zero(); 4]; K];
            for u in 0..K {
                pv[u] = vs[u].as_ptr();
                for r in 0..4 {
                    va[u][r] = $set1(alphas[u][r]);
                }
            }
            let mut acc = [[$zero(); 2]; 4];
            // Eight cache lines ahead in each row: four interleaved streams of loads and
            // stores are more than the hardware prefetchers of some processors follow
            // (on an Intel Xeon with AVX-512 this took 8% off the f64 kernel, whose rows
            // come from L2).
            const AHEAD: usize = 512 / std::mem::size_of::<$t>();
            let mut i = 0;
            // SAFETY: every access touches lanes i..i+L with i + L <= n, within every row,
            // `x` and `vs[u]`, and the rows overlap nothing else (the caller promised), so
            // no store aliases another load. The prefetched addresses may lie past a row
            // (wrapping arithmetic, no access): a prefetch never faults.
            unsafe {
                let mut one_vector = |j: usize, k: usize| {
                    let xv = $load(px.add(j));
                    let mut vv = [xv; K];
                    for u in 0..K {
                        vv[u] = $load(pv[u].add(j));
                    }
                    for r in 0..4 {
                        let mut w = $load(pr[r].add(j));
                        for u in 0..K {
                            w = $fmadd(va[u][r], vv[u], w);
                        }
                        if STORE {
                            $store(pr[r].add(j), w);
                        }
                        acc[r][k] = $fmadd(w, xv, acc[r][k]);
                    }
                };
                while i + 2 * L <= n {
                    for r in 0..4 {
                        let ahead = pr[r].wrapping_add(i + AHEAD).cast::<i8>();
                        // The lines of the 2·L lanes this turn covers: one (AVX2) or two.
                        for line in 0..(2 * L * std::mem::size_of::<$t>()).div_ceil(64) {
                            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line));
                        }
                    }
                    one_vector(i, 0);
                    one_vector(i + L, 1);
                    i += 2 * L;
                }
                while i + L <= n {
                    one_vector(i, 0);
                    i += L;
                }
            }
            let mut out = [0.0 as $t; 4];
            for r in 0..4 {
                let mut lanes = [0.0 as $t; L];
                // SAFETY: `lanes` holds exactly one vector.
                unsafe { $store(lanes.as_mut_ptr(), $add(acc[r][0], acc[r][1])) };
                let mut total = super::simd::sum_lanes(lanes);
                for k in i..n {
                    // SAFETY: k < n, within every row, `x` and `vs[u]`.
                    unsafe {
                        let mut w = *pr[r].add(k);
                        for u in 0..K {
                            w = alphas[u][r].mul_add(*pv[u].add(k), w);
                        }
                        if STORE {
                            *pr[r].add(k) = w;
                        }
                        total = w.mul_add(x[k], total);
                    }
                }
                out[r] = total;
            }
            out
        }

        /// `out = Wᵀ·v`: `out[j] = Σ_i v[i]·W[i, j]` over the `v.len()` rows of a
        /// contiguous row-major `W` of `cols` columns, each sum taken in row order by
        /// fused multiply-adds from 0, so with the bits of `out = 0` followed by
        /// `$axpy(v[i], W[i, :], out)` row after row. The sums of up to four vectors of
        /// columns stay in registers over all the rows: a small layer's input gradient
        /// (16 columns, the per-sample step's) is one chain of multiply-adds instead of
        /// a load and a store of `out` per row, each waiting for the last.
        ///
        /// # Safety
        /// `w` holds `v.len()·cols` entries and `out` `cols` (the caller checked them).
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $gemv_t(w: &[$t], cols: usize, v: &[$t], out: &mut [$t]) {
            /// Columns `j..j + N·L` of `out`, in `N` registers.
            #[target_feature(enable = $feature)]
            #[inline]
            unsafe fn columns<const N: usize>(
                w: &[$t],
                cols: usize,
                v: &[$t],
                out: &mut [$t],
                j: usize,
            ) {
                const L: usize = $lanes;
                let mut sums = [$zero(); N];
                let p = w.as_ptr();
                // SAFETY: row i's columns j..j + N·L end at i·cols + j + N·L <= i·cols + cols,
                // within `w` for i < v.len(); out's j..j + N·L are within `cols`.
                unsafe {
                    for (i, &vi) in v.iter().enumerate() {
                        let (vi, row) = ($set1(vi), p.add(i * cols + j));
                        for (k, sum) in sums.iter_mut().enumerate() {
                            *sum = $fmadd(vi, $load(row.add(k * L)), *sum);
                        }
                    }
                    for (k, sum) in sums.into_iter().enumerate() {
                        $store(out.as_mut_ptr().add(j + k * L), sum);
                    }
                }
            }
            const L: usize = $lanes;
            debug_assert!(w.len() == v.len() * cols && out.len() == cols);
            let mut j = 0;
            // SAFETY: each call's columns end at j + N·L <= cols (the caller's lengths).
            unsafe {
                while j + 4 * L <= cols {
                    columns::<4>(w, cols, v, out, j);
                    j += 4 * L;
                }
                let vectors = (cols - j) / L;
                match vectors {
                    3 => columns::<3>(w, cols, v, out, j),
                    2 => columns::<2>(w, cols, v, out, j),
                    1 => columns::<1>(w, cols, v, out, j),
                    _ => {}
                }
                j += vectors * L;
            }
            // The columns after the last whole vector, one by one.
            for k in j..cols {
                let mut sum = 0.0 as $t;
                for (i, &vi) in v.iter().enumerate() {
                    sum = vi.mul_add(w[i * cols + k], sum);
                }
                out[k] = sum;
            }
        }

        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $axpy(alpha: $t, x: &[$t], y: &mut [$t]) {
            const L: usize = $lanes;
            let n = x.len().min(y.len());
            let (px, py) = (x.as_ptr(), y.as_mut_ptr());
            let va = $set1(alpha);
            let mut i = 0;
            // SAFETY: every access touches lanes i..i+L with i + L <= n.
            unsafe {
                while i + L <= n {
                    $store(py.add(i), $fmadd(va, $load(px.add(i)), $load(py.add(i))));
                    i += L;
                }
            }
            for k in i..n {
                y[k] = alpha.mul_add(x[k], y[k]);
            }
        }
    };
}

/// The matrix kernels (`gemv_bias`, `gemv_t`, `rank1`) and the dispatch targets `dot`
/// and `max_abs` for one instruction set, generic over the float type through the
/// `Sealed` methods `$dot`, `$dot4`, `$axpy` and `$max_abs` of that set.
macro_rules! matrix_kernels {
    ($feature:literal, $dot:ident, $dot_after:ident, $dot4:ident, $dot4x2:ident,
     $axpy:ident, $axpy_dot4:ident, $max_abs:ident, $gemv_t:ident) => {
        #[target_feature(enable = $feature)]
        pub(in crate::compute) unsafe fn dot<F: Float>(a: &[F], b: &[F]) -> F {
            // SAFETY: this function's callers checked the instruction set.
            unsafe { F::$dot(a, b) }
        }

        #[target_feature(enable = $feature)]
        pub(in crate::compute) unsafe fn max_abs<F: Float>(v: &[F]) -> F {
            // SAFETY: this function's callers checked the instruction set.
            unsafe { F::$max_abs(v) }
        }

        #[target_feature(enable = $feature)]
        pub(in crate::compute) unsafe fn gemv_bias<F: Float>(
            w: &[F],
            cols: usize,
            x: &[F],
            b: &[F],
            y: &mut [F],
        ) {
            if cols == 0 {
                y.copy_from_slice(b);
                return;
            }
            let (blocks, rest) = super::simd::row_blocks(w, cols);
            let mut r = 0;
            for rows in blocks {
                // SAFETY: this function's callers checked the instruction set.
                let dots = unsafe { F::$dot4(rows, x) };
                for k in 0..4 {
                    y[r + k] = b[r + k] + dots[k];
                }
                r += 4;
            }
            for row in rest.chunks_exact(cols) {
                // SAFETY: this function's callers checked the instruction set.
                y[r] = b[r] + unsafe { F::$dot(row, x) };
                r += 1;
            }
        }

        /// `gemv_bias` on two samples `x[0]`, `x[1]` at once, row blocks as there.
        #[target_feature(enable = $feature)]
        pub(in crate::compute) unsafe fn gemv_bias_pair<F: Float>(
            w: &[F],
            cols: usize,
            x: [&[F]; 2],
            b: &[F],
            y: [&mut [F]; 2],
        ) {
            let [y0, y1] = y;
            if cols == 0 {
                y0.copy_from_slice(b);
                y1.copy_from_slice(b);
                return;
            }
            let (blocks, rest) = super::simd::row_blocks(w, cols);
            let mut r = 0;
            for rows in blocks {
                // SAFETY: this function's callers checked the instruction set.
                let [d0, d1] = unsafe { F::$dot4x2(rows, x) };
                for k in 0..4 {
                    y0[r + k] = b[r + k] + d0[k];
                    y1[r + k] = b[r + k] + d1[k];
                }
                r += 4;
            }
            for row in rest.chunks_exact(cols) {
                // SAFETY: this function's callers checked the instruction set.
                y0[r] = b[r] + unsafe { F::$dot(row, x[0]) };
                // SAFETY: as above.
                y1[r] = b[r] + unsafe { F::$dot(row, x[1]) };
                r += 1;
            }
        }

        /// `y = W'·x + b` for `W' = W + Σ_u alphas[u]·us[u]·vs[u]ᵀ`, the updates added
        /// in turn, `W'` stored in `w` when `store` (see `kernels::rank1_gemv_bias` and
        /// `kernels::gemv_bias_after`), with the four-row blocks of `gemv_bias` from the
        /// last when `backwards` (the rows after the last whole block come last either
        /// way, one by one).
        ///
        /// # Safety
        /// `w` points to `rows·cols` entries, writable when `store`, that no other
        /// argument overlaps; `us[u]`, `b` and `y` hold `rows` entries and `vs[u]` and `x`
        /// `cols` (the caller checked them).
        #[target_feature(enable = $feature)]
        pub(in crate::compute) unsafe fn rank1_gemv_bias<F: Float, const K: usize>(
            (w, rows, cols): (*mut F, usize, usize),
            (alphas, us, vs): ([F; K], [&[F]; K], [&[F]; K]),
            x: &[F],
            b: &[F],
            y: &mut [F],
            (backwards, store): (bool, bool),
        ) {
            if cols == 0 {
                y.copy_from_slice(b);
                return;
            }
            let row = |r: usize| w.wrapping_add(r * cols);
            let mut one_block = |r: usize| {
                let mut coefficients = [[F::zero(); 4]; K];
                for u in 0..K {
                    for k in 0..4 {
                        coefficients[u][k] = alphas[u] * us[u][r + k];
                    }
                }
                let rows = [row(r), row(r + 1), row(r + 2), row(r + 3)];
                // SAFETY: this function's callers checked the instruction set, and the
                // rows are four of the `rows` rows of `w`, as the caller promised.
                let dots = unsafe {
                    if store {
                        F::$axpy_dot4::<K, true>(coefficients, vs, x, rows, cols)
                    } else {
                        F::$axpy_dot4::<K, false>(coefficients, vs, x, rows, cols)
                    }
                };
                for k in 0..4 {
                    y[r + k] = b[r + k] + dots[k];
                }
            };
            let blocks = rows / 4;
            if backwards {
                (0..blocks).rev().for_each(|i| one_block(4 * i));
            } else {
                (0..blocks).for_each(|i| one_block(4 * i));
            }
            for r in 4 * blocks..rows {
                let coefficients: [F; K] = std::array::from_fn(|u| alphas[u] * us[u][r]);
                // SAFETY: this function's callers checked the instruction set; row `r` of
                // `w` holds `cols` entries (writable when `store`) that nothing else
                // overlaps.
                y[r] = b[r]
                    + unsafe {
                        if store {
                            let row = std::slice::from_raw_parts_mut(row(r), cols);
                            for u in 0..K {
                                F::$axpy(coefficients[u], vs[u], row);
                            }
                            F::$dot(row, x)
                        } else {
                            let row = std::slice::from_raw_parts(row(r).cast_const(), cols);
                            F::$dot_after::<K>(coefficients, vs, row, x)
                        }
                    };
            }
        }

        #[target_feature(enable = $feature)]
        pub(in crate::compute) unsafe fn gemv_t<F: Float>(
            w: &[F],
            cols: usize,
            v: &[F],
            out: &mut [F],
        ) {
            // SAFETY: this function's callers checked the instruction set, and
            // `kernels::gemv_t` the lengths (`v.len()` rows of `cols`, `cols` outputs).
            unsafe { F::$gemv_t(w, cols, v, out) }
        }

        #[target_feature(enable = $feature)]
        pub(in crate::compute) unsafe fn rank1<F: Float>(
            w: &mut [F],
            cols: usize,
            alpha: F,
            u: &[F],
            v: &[F],
        ) {
            if cols == 0 {
                return;
            }
            for (row, &ui) in w.chunks_exact_mut(cols).zip(u) {
                // SAFETY: this function's callers checked the instruction set.
                unsafe { F::$axpy(alpha * ui, v, row) };
            }
        }
    };
}
