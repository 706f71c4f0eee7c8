//! Magnitude bounds that prove an update cannot overflow, so that training's finiteness
//! check needs no pass over the parameters.
//!
//! A step whose gradients are finite can still overflow a parameter (`W - lr·dW` with
//! `W` or `lr·dW` near the float maximum) or an optimizer state (Adam's `v` holds `g²`).
//! Checking every parameter after every step would cost a pass over them, and undoing a
//! bad step a copy. Instead the network keeps upper bounds of `|θ|` over every parameter
//! and of `|s|` over every entry of each state buffer, and advances them by the bound of
//! each step ([`crate::Optimizer::bound_after_step`]): while they stay below half the
//! float maximum, no entry can overflow. Only when they cannot prove it (bounds grown
//! loose over many steps, or a step that really is near overflow) are they measured
//! exactly, and only when that fails too is the step copied and checked.

use nn_core::tensor::max_abs;
use nn_core::Float;
use nn_layers::Dense;

use crate::optimizer::{LayerState, Optimizer};

/// Upper bounds of the magnitudes of every parameter and optimizer state entry.
#[derive(Clone, Debug, Default)]
pub(crate) struct MagnitudeBounds<F> {
    /// Whether the bounds hold: false until measured, and after anything other than a
    /// bounded step changed the parameters or states.
    known: bool,
    /// `max |θ|` over every weight and bias, or more.
    parameters: F,
    /// `max |s|` over every entry of state buffer `k`, or more.
    states: Vec<F>,
    /// The state bounds after the step being tried (kept to reuse its allocation).
    next_states: Vec<F>,
}

impl<F: Float> MagnitudeBounds<F> {
    /// Whether the bounds hold.
    pub(crate) fn is_known(&self) -> bool {
        self.known
    }

    /// The bound of every parameter's magnitude.
    pub(crate) fn parameters(&self) -> F {
        self.parameters
    }

    /// Marks the bounds as unknown (parameters or states were written from outside).
    pub(crate) fn forget(&mut self) {
        self.known = false;
    }

    /// Measures the bounds exactly: one pass over the parameters and states.
    pub(crate) fn measure(&mut self, layers: &[Dense<F>], states: &[LayerState<F>]) {
        self.parameters = layers
            .iter()
            .flat_map(|l| [max_abs(l.weights()), max_abs(l.bias())])
            .fold(F::zero(), F::max);
        self.states.clear();
        self.states
            .resize(states.first().map_or(0, |s| s.bias.len()), F::zero());
        for per_parameter in states.iter().flat_map(LayerState::parts) {
            for (bound, state) in self.states.iter_mut().zip(per_parameter) {
                *bound = bound.max(max_abs(state.view()));
            }
        }
        self.known = true;
    }

    /// If the bounds hold and prove that a step of `optimizer` with gradients bounded by
    /// `gradient` keeps every entry below half the float maximum (a margin for the
    /// rounding of the step's own arithmetic), advances them past the step and returns
    /// true; otherwise leaves them and returns false.
    pub(crate) fn advance(
        &mut self,
        optimizer: &dyn Optimizer<F>,
        gradient: F,
        step: u64,
        gradient_scale: F,
    ) -> bool {
        if !self.known {
            return false;
        }
        self.next_states.clone_from(&self.states);
        let parameters = optimizer.bound_after_step(
            self.parameters,
            gradient,
            &mut self.next_states,
            step,
            gradient_scale,
        );
        let safe = |b: F| b <= F::max_value() / F::from_f64(2.0);
        match parameters {
            Some(p) if safe(p) && self.next_states.iter().all(|&b| safe(b)) => {
                self.parameters = p;
                std::mem::swap(&mut self.states, &mut self.next_states);
                true
            }
            _ => false,
        }
    }

    /// Advances the parameters' bound by `increment` (the fused SGD step, which checked
    /// beforehand that the sum stays below half the float maximum).
    pub(crate) fn grow(&mut self, increment: F) {
        self.parameters += increment;
    }
}
