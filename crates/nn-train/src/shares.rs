//! Cutting a batch into one share of columns per thread: how many shares, which columns
//! each holds, and the pass that runs each share's forward and backward pass on its own
//! thread and averages their gradients weighted by their sizes.

use ndarray::{s, ArrayView2, ArrayViewMut2, Axis, Zip};
use nn_core::compute::rows::on_rows;
use nn_core::compute::team::join;
use nn_core::tensor::{self, max_abs_of_both};
use nn_core::{Float, Loss, Target};
use nn_layers::Dense;

use crate::backprop::{Buffers, Gradients};
use crate::dropout::Masks;

/// Into how many shares to cut a batch of `batch` columns for a network of `parameters`
/// parameters on `threads` threads: one per thread when the network is small (under
/// 2^16 parameters), each share still has enough columns (32) and the batch enough work
/// (2^20 multiply-adds) to pay for handing it to another thread.
///
/// A larger network is not cut into shares: each of its layers cuts its rows over the
/// threads instead (`Dense::forward_into`), and the optimizer updates each block of rows
/// on the core that computed its gradient, so that no gradient is summed and each
/// core's weights, gradients and optimizer state stay in its own cache. On 784→256→128→10
/// (f32, batch 128, Intel Xeon with AVX-512, 2 cores) an epoch of SGD with momentum took
/// 0.35–0.37 s in shares and 0.32–0.34 s by rows; on networks of 5 600 and 13 000
/// parameters, shares were the faster (8 against 13 ms, 104 against 113 ms an epoch),
/// and from 26 000 to 50 000 the two were even.
pub(crate) fn shares_for(threads: usize, batch: usize, parameters: usize) -> usize {
    const MIN_COLUMNS: usize = 32;
    const MIN_WORK: usize = 1 << 20;
    const MAX_PARAMETERS: usize = 1 << 16;
    if threads < 2 || parameters >= MAX_PARAMETERS || batch.saturating_mul(parameters) < MIN_WORK {
        return 1;
    }
    threads.min(batch / MIN_COLUMNS).max(1)
}

/// Columns `start..end` of share `p` when `batch` columns are cut into `parts` shares
/// whose sizes differ by at most one.
pub(crate) fn share(batch: usize, parts: usize, p: usize) -> (usize, usize) {
    (batch * p / parts, batch * (p + 1) / parts)
}

/// The forward and backward passes of a batch cut into `buffers.len()` shares (at least
/// 2), each on its own thread with its own buffers (already sized for its share), then
/// the shares' gradients averaged into `buffers[0]`, weighted by their sizes:
/// `g = Σ_p (B_p/B)·g_p`. Returns the batch's mean loss, averaged the same way, and
/// `max |g|` over every averaged `dW` and `db`, taken in the same pass (NaN if any entry
/// is NaN or infinite), which spares the step a pass over the gradients to check them.
/// With `masks` (drawn for the whole batch), each share reads its samples' dropout masks.
///
/// One hand-off per step instead of one per matrix product keeps both cores busy, where
/// waking a thread for each small product costs a fifth of the time. Results are
/// deterministic for a given number of shares.
pub(crate) fn forward_backward<F: Float>(
    buffers: &mut [Buffers<F>],
    layers: &[Dense<F>],
    loss: &dyn Loss<F>,
    x: ArrayView2<'_, F>,
    target: Target<'_, F>,
    masks: Option<&Masks<F>>,
) -> (F, F) {
    let (batch, parts) = (x.ncols(), buffers.len());
    each_share(buffers, 0, &|p, buffers| {
        let (start, end) = share(batch, parts, p);
        let xs = x.slice(s![.., start..end]);
        let masks = masks.map(|m| m.share(start, end));
        let workspace = buffers.current_mut();
        workspace.forward(layers, xs, 1, masks);
        workspace.backward(layers, loss, xs, target.samples(start, end), 1, masks);
    });
    let weight = |p: usize| {
        let (start, end) = share(batch, parts, p);
        F::from_f64((end - start) as f64 / batch as f64)
    };
    let (first, rest) = buffers.split_at_mut(1);
    let total = &mut first[0].current_mut().gradients;
    let mut largest = F::zero();
    for (i, (dw, db)) in total.dws.iter_mut().zip(total.dbs.iter_mut()).enumerate() {
        let dws: Pick<F> = |g, i| g.dws[i].view();
        let dbs: Pick<F> = |g, i| g.dbs[i].view();
        for m in [
            weigh_and_add(dw.view_mut(), (rest, dws, i), &weight, parts),
            weigh_and_add(db.view_mut(), (rest, dbs, i), &weight, 1),
        ] {
            largest = max_abs_of_both(largest, m);
        }
    }
    let mut loss_sum = total.loss * weight(0);
    for (p, other) in rest.iter().enumerate() {
        loss_sum += other.current().gradients.loss * weight(p + 1);
    }
    total.loss = loss_sum;
    (loss_sum, largest)
}

/// `f(first + p, &mut buffers[p])` for every share `p`, each on its own thread: the
/// slice is halved recursively by nn-core's `team::join`.
fn each_share<F: Float>(
    buffers: &mut [Buffers<F>],
    first: usize,
    f: &(impl Fn(usize, &mut Buffers<F>) + Sync),
) {
    match buffers {
        [] => {}
        [one] => f(first, one),
        _ => {
            let half = buffers.len() / 2;
            let (left, right) = buffers.split_at_mut(half);
            join(
                || each_share(left, first, f),
                || each_share(right, first + half, f),
            );
        }
    }
}

/// Picks a gradient of a share: `dws[i]` or `dbs[i]`.
type Pick<F> = fn(&Gradients<F>, usize) -> ArrayView2<'_, F>;

/// `total = w(0)·total + Σ_p w(p + 1)·pick(others[p])`, in that order for each entry (so
/// the bits do not depend on `threads`), in one pass per share, the rows split over up
/// to `threads` threads by nn-core's `on_rows` when there are many. Returns `max |total|`,
/// NaN if an entry is not finite: each block of rows is scanned by the vectorised
/// `max_abs` right after it is summed, while it is still in the L1 cache.
fn weigh_and_add<F: Float>(
    total: ArrayViewMut2<'_, F>,
    (others, pick, i): (&[Buffers<F>], Pick<F>, usize),
    weight: &(impl Fn(usize) -> F + Sync),
    threads: usize,
) -> F {
    // Rows per block: 8 rows of 784 f32 are 25 KB.
    const BLOCK_ROWS: usize = 8;
    let pass = |mut rows: ArrayViewMut2<'_, F>, first: usize| {
        let mut largest = F::zero();
        let w0 = weight(0);
        for (b, mut block) in rows.axis_chunks_iter_mut(Axis(0), BLOCK_ROWS).enumerate() {
            let start = first + b * BLOCK_ROWS;
            let range = start..start + block.nrows();
            let part = |p: usize| {
                pick(&others[p].current().gradients, i).slice_move(s![range.clone(), ..])
            };
            // A batch in shares has at least two: `others` is never empty.
            let w1 = weight(1);
            Zip::from(&mut block)
                .and(part(0))
                .for_each(|t, &g| *t = *t * w0 + w1 * g);
            for p in 1..others.len() {
                let w = weight(p + 1);
                Zip::from(&mut block)
                    .and(part(p))
                    .for_each(|t, &g| *t += w * g);
            }
            largest = max_abs_of_both(largest, tensor::max_abs(block.view()));
        }
        largest
    };
    on_rows(total, threads, &pass, &max_abs_of_both)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_tile_the_batch_and_differ_by_at_most_one_column() {
        for batch in [1, 2, 31, 97, 129, 130] {
            for parts in 1..=4.min(batch) {
                let shares: Vec<_> = (0..parts).map(|p| share(batch, parts, p)).collect();
                assert_eq!(shares[0].0, 0);
                assert_eq!(shares[parts - 1].1, batch);
                assert!(shares.windows(2).all(|w| w[0].1 == w[1].0));
                let sizes: Vec<_> = shares.iter().map(|(s, e)| e - s).collect();
                let (min, max) = (sizes.iter().min(), sizes.iter().max());
                assert!(
                    max.unwrap() - min.unwrap() <= 1,
                    "{batch} in {parts}: {sizes:?}"
                );
            }
        }
        assert_eq!(share(130, 3, 1), (43, 86));
    }

    #[test]
    fn a_batch_is_shared_when_each_share_has_32_columns_and_the_batch_2_20_multiply_adds() {
        // 2^14 parameters: 64 columns are exactly 2^20 multiply-adds.
        for (batch, parts) in [
            (1, 1),
            (31, 1),
            (63, 1),
            (64, 2),
            (95, 2),
            (96, 3),
            (500, 3),
        ] {
            assert_eq!(shares_for(3, batch, 1 << 14), parts, "batch {batch}");
        }
        // One thread never shares; two share in two.
        assert_eq!(shares_for(1, 500, 1 << 14), 1);
        assert_eq!(shares_for(2, 500, 1 << 14), 2);
    }

    #[test]
    fn a_network_of_2_16_parameters_cuts_its_rows_instead() {
        assert_eq!(shares_for(2, 512, (1 << 16) - 1), 2);
        assert_eq!(shares_for(2, 512, 1 << 16), 1);
        assert_eq!(shares_for(4, 4096, 235_146), 1);
    }

    #[test]
    fn a_batch_too_large_to_count_its_work_is_still_shared() {
        assert_eq!(shares_for(2, usize::MAX, 1 << 15), 2);
    }
}
