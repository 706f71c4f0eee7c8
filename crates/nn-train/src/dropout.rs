//! The dropout masks of a training step: drawn once per step for the whole batch, from
//! the trainer's own seeded generator, then read by each thread's share of the batch.
//! The math of dropout is in `nn_layers::Dropout`.

use ndarray::{s, Array2, ArrayView2};
use nn_core::{tensor, Float, Result};
use nn_layers::Dense;
use rand::rngs::SmallRng;

/// One mask per layer, `(ins_i, batch)` for a layer with dropout and empty for the others.
#[derive(Clone, Debug, Default)]
pub(crate) struct Masks<F> {
    masks: Vec<Array2<F>>,
}

impl<F: Float> Masks<F> {
    /// Draws the masks of a step on `batch` samples of `layers` from `rng`, layer by layer
    /// and column by column (so the same seed gives the same masks whatever the number of
    /// threads). The buffers grow to the largest batch seen and are not reallocated for
    /// a smaller one (an epoch's last batch), as the workspaces' `Buffers` are not.
    ///
    /// # Errors
    /// [`nn_core::Error::TooLarge`] if a mask cannot be allocated.
    pub(crate) fn draw(
        &mut self,
        layers: &[Dense<F>],
        batch: usize,
        rng: &mut SmallRng,
    ) -> Result<()> {
        if self.masks.len() != layers.len() {
            self.masks = layers.iter().map(|_| Array2::zeros((0, 0))).collect();
        }
        for (mask, layer) in self.masks.iter_mut().zip(layers) {
            let Some(dropout) = layer.dropout() else {
                if !mask.is_empty() {
                    *mask = Array2::zeros((0, 0));
                }
                continue;
            };
            if mask.nrows() < batch || mask.ncols() != layer.ins() {
                // Stored as (samples, ins) in row-major order, so that each sample's mask
                // is drawn in one run: a column of the transposed view.
                *mask = tensor::try_zeros("dropout mask", batch, layer.ins())?;
            }
            dropout.draw_mask(mask.slice_mut(s![..batch, ..]), rng);
        }
        Ok(())
    }

    /// The masks of the samples `start..end` of the batch.
    pub(crate) fn share(&self, start: usize, end: usize) -> MaskShare<'_, F> {
        MaskShare {
            masks: &self.masks,
            start,
            end,
        }
    }
}

/// The masks of some consecutive samples of a batch, as a workspace reads them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MaskShare<'a, F> {
    masks: &'a [Array2<F>],
    start: usize,
    end: usize,
}

impl<'a, F: Float> MaskShare<'a, F> {
    /// The mask `(ins_i, samples)` of layer `i`, or `None` if it has no dropout.
    pub(crate) fn layer(&self, i: usize) -> Option<ArrayView2<'a, F>> {
        let mask = self.masks.get(i).filter(|m| !m.is_empty())?;
        Some(mask.slice(s![self.start..self.end, ..]).reversed_axes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backprop::{Buffers, Pass, Workspace};
    use ndarray::Array2;
    use nn_core::{Init, Loss, Target};
    use nn_layers::{Identity, Sigmoid, Tanh};
    use nn_loss::CrossEntropy;
    use rand::{rngs::StdRng, SeedableRng};

    /// 5 → 4 → 3 → 3 with dropout on the inputs of layers 0 and 2 (sigmoid in between, whose
    /// derivative is taken from its output: it must be the output before dropout).
    fn layers() -> Vec<Dense<f64>> {
        let mut rng = StdRng::seed_from_u64(11);
        vec![
            (Dense::new(5, 4, Sigmoid, Init::XavierNormal, &mut rng).unwrap())
                .with_dropout(0.4)
                .unwrap(),
            Dense::new(4, 3, Tanh, Init::XavierNormal, &mut rng).unwrap(),
            (Dense::new(3, 3, Identity, Init::XavierNormal, &mut rng).unwrap())
                .with_dropout(0.5)
                .unwrap(),
        ]
    }

    /// The loss of `layers` on `(x, classes)` with the dropout masks `masks`.
    fn loss_with(
        layers: &[Dense<f64>],
        x: &Array2<f64>,
        classes: &[usize],
        masks: &Masks<f64>,
    ) -> f64 {
        let mut workspace = Workspace::empty();
        workspace
            .size_for(layers, x.ncols(), Pass::Training)
            .unwrap();
        let share = Some(masks.share(0, x.ncols()));
        workspace.forward(layers, x.view(), 1, share);
        CrossEntropy.evaluate(workspace.output(), Target::Classes(classes))
    }

    #[test]
    fn backprop_under_a_fixed_mask_matches_finite_differences() {
        for batch in [1, 6] {
            let layers = layers();
            let mut rng = StdRng::seed_from_u64(2);
            let x = Init::HeNormal
                .weights::<f64, _>(5, batch, &mut rng)
                .unwrap();
            let classes: Vec<usize> = (0..batch).map(|j| j % 3).collect();
            let mut masks = Masks::default();
            masks
                .draw(&layers, batch, &mut SmallRng::seed_from_u64(5))
                .unwrap();
            // Some inputs are dropped and some kept, in both layers with dropout.
            for i in [0, 2] {
                let mask = masks.share(0, batch).layer(i).unwrap();
                assert!(mask.iter().any(|&m| m == 0.0) || batch == 1);
                assert!(mask.iter().any(|&m| m > 1.0));
            }
            assert!(masks.share(0, batch).layer(1).is_none());

            let mut workspace = Workspace::empty();
            workspace.size_for(&layers, batch, Pass::Backprop).unwrap();
            let share = Some(masks.share(0, batch));
            workspace.forward(&layers, x.view(), 1, share);
            let target = Target::Classes(&classes);
            let (value, _) = workspace.backward(&layers, &CrossEntropy, x.view(), target, 1, share);
            assert_eq!(value, loss_with(&layers, &x, &classes, &masks));
            let gradients = &workspace.gradients;

            let h = 1e-6;
            let check = |g: f64, plus: f64, minus: f64| {
                let numeric = (plus - minus) / (2.0 * h);
                approx::assert_relative_eq!(g, numeric, epsilon = 1e-8, max_relative = 1e-6);
            };
            for (l, dw) in gradients.dws.iter().enumerate() {
                for ((r, c), &g) in dw.indexed_iter() {
                    let (mut plus, mut minus) = (layers.clone(), layers.clone());
                    plus[l].parameters_mut().0[(r, c)] += h;
                    minus[l].parameters_mut().0[(r, c)] -= h;
                    let (p, m) = (
                        loss_with(&plus, &x, &classes, &masks),
                        loss_with(&minus, &x, &classes, &masks),
                    );
                    check(g, p, m);
                }
                for ((r, _), &g) in gradients.dbs[l].indexed_iter() {
                    let (mut plus, mut minus) = (layers.clone(), layers.clone());
                    plus[l].parameters_mut().1[(r, 0)] += h;
                    minus[l].parameters_mut().1[(r, 0)] -= h;
                    let (p, m) = (
                        loss_with(&plus, &x, &classes, &masks),
                        loss_with(&minus, &x, &classes, &masks),
                    );
                    check(g, p, m);
                }
            }
            // The input gradient: zero where the first layer dropped the input.
            let dx = &gradients.dxs[0];
            let first_mask = masks.share(0, batch).layer(0).unwrap();
            for ((r, c), &g) in dx.indexed_iter() {
                let (mut plus, mut minus) = (x.clone(), x.clone());
                plus[(r, c)] += h;
                minus[(r, c)] -= h;
                let (p, m) = (
                    loss_with(&layers, &plus, &classes, &masks),
                    loss_with(&layers, &minus, &classes, &masks),
                );
                check(g, p, m);
                if first_mask[(r, c)] == 0.0 {
                    assert_eq!(g, 0.0);
                }
            }
        }
    }

    #[test]
    fn shares_of_a_batch_read_their_own_samples_masks() {
        // The batch cut in 3 shares on their threads gives the gradients of the whole batch
        // in one workspace, under the same masks.
        let layers = layers();
        let batch = 10;
        let mut rng = StdRng::seed_from_u64(4);
        let x = Init::HeNormal
            .weights::<f64, _>(5, batch, &mut rng)
            .unwrap();
        let classes: Vec<usize> = (0..batch).map(|j| (j * 7) % 3).collect();
        let mut masks = Masks::default();
        masks
            .draw(&layers, batch, &mut SmallRng::seed_from_u64(9))
            .unwrap();
        let target = Target::Classes(&classes);

        let mut whole = Workspace::empty();
        whole.size_for(&layers, batch, Pass::Training).unwrap();
        let share = Some(masks.share(0, batch));
        whole.forward(&layers, x.view(), 1, share);
        let (loss, _) = whole.backward(&layers, &CrossEntropy, x.view(), target, 1, share);

        let mut buffers: Vec<Buffers<f64>> = (0..3).map(|_| Buffers::default()).collect();
        for (p, b) in buffers.iter_mut().enumerate() {
            let (start, end) = crate::shares::share(batch, 3, p);
            b.for_batch(&layers, end - start).unwrap();
        }
        let (shared, largest) = crate::shares::forward_backward(
            &mut buffers,
            &layers,
            &CrossEntropy,
            x.view(),
            target,
            Some(&masks),
        );
        approx::assert_relative_eq!(shared, loss, max_relative = 1e-12);
        let gradients = &buffers[0].current().gradients;
        assert_eq!(largest, gradients.check(0).unwrap(), "the same max |g|");
        for l in 0..layers.len() {
            approx::assert_relative_eq!(
                gradients.dws[l],
                whole.gradients.dws[l],
                epsilon = 1e-14,
                max_relative = 1e-10
            );
            approx::assert_relative_eq!(
                gradients.dbs[l],
                whole.gradients.dbs[l],
                epsilon = 1e-14,
                max_relative = 1e-10
            );
        }
    }

    #[test]
    fn masks_follow_the_layers_and_the_batch() {
        let mut layers = layers();
        let mut masks = Masks::default();
        masks
            .draw(&layers, 4, &mut SmallRng::seed_from_u64(0))
            .unwrap();
        assert_eq!(masks.share(0, 4).layer(0).unwrap().dim(), (5, 4));
        assert_eq!(masks.share(1, 3).layer(2).unwrap().dim(), (3, 2));
        // A share's columns are the batch's.
        assert_eq!(
            masks.share(1, 3).layer(0).unwrap(),
            masks.share(0, 4).layer(0).unwrap().slice(s![.., 1..3])
        );
        // A smaller batch (an epoch's last) draws into the same buffers, the masks a fresh
        // buffer would get from the same generator state.
        let before = masks.masks[0].as_ptr();
        masks
            .draw(&layers, 3, &mut SmallRng::seed_from_u64(7))
            .unwrap();
        let mut fresh = Masks::default();
        fresh
            .draw(&layers, 3, &mut SmallRng::seed_from_u64(7))
            .unwrap();
        assert_eq!(masks.masks[0].as_ptr(), before);
        for i in [0, 2] {
            assert_eq!(masks.share(0, 3).layer(i), fresh.share(0, 3).layer(i));
        }
        masks
            .draw(&layers, 4, &mut SmallRng::seed_from_u64(0))
            .unwrap();
        assert_eq!(masks.masks[0].as_ptr(), before);
        // Dropout removed from a layer: its mask goes too.
        layers[0] = layers[0].clone().with_dropout(0.0).unwrap();
        masks
            .draw(&layers, 4, &mut SmallRng::seed_from_u64(0))
            .unwrap();
        assert!(masks.share(0, 4).layer(0).is_none());
        assert!(masks.share(0, 4).layer(2).is_some());
    }
}
