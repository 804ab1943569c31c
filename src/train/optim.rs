//! Adam with its state in plain tensors, so a checkpoint holds the optimiser too
//! and a resumed run continues exactly.

use std::collections::BTreeMap;
use tch::{Tensor, nn::VarStore};

pub struct Adam {
    /// Training steps taken, counting those of the weights the run started from.
    pub step: i64,
    /// Updates the moments have seen: their bias correction counts these, so moments
    /// restarted on trained weights (`--init`) do not take oversized first steps.
    pub moment_steps: i64,
    pub m: BTreeMap<String, Tensor>,
    pub v: BTreeMap<String, Tensor>,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl Adam {
    pub fn new(vs: &VarStore) -> Self {
        let vars = vs.variables();
        let zeros = |t: &Tensor| t.zeros_like().detach();
        Self {
            step: 0,
            moment_steps: 0,
            m: vars.iter().map(|(n, t)| (n.clone(), zeros(t))).collect(),
            v: vars.iter().map(|(n, t)| (n.clone(), zeros(t))).collect(),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// Global gradient-norm clipping, then one Adam update; clears the gradients.
    pub fn step(&mut self, vs: &VarStore, lr: f64, clip: f64) -> f64 {
        let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
        tch::no_grad(|| {
            // One sum on the device and one read back: a read per variable would wait
            // on the GPU a few hundred times a step.
            let sums: Vec<Tensor> = vars
                .values()
                .map(|t| t.grad())
                .filter(|g| g.defined())
                .map(|g| g.square().sum(tch::Kind::Double))
                .collect();
            let norm = if sums.is_empty() {
                0.0
            } else {
                Tensor::stack(&sums, 0)
                    .sum(tch::Kind::Double)
                    .double_value(&[])
                    .sqrt()
            };
            let scale = if norm > clip && norm.is_finite() {
                clip / norm
            } else {
                1.0
            };
            if !norm.is_finite() {
                // Skip a step with a non-finite gradient instead of poisoning the weights.
                for t in vars.values() {
                    let mut g = t.grad();
                    if g.defined() {
                        let _ = g.zero_();
                    }
                }
                return norm;
            }
            self.step += 1;
            self.moment_steps += 1;
            let t = self.moment_steps.min(i64::from(i32::MAX)) as i32;
            let bc1 = 1.0 - self.beta1.powi(t);
            let bc2 = 1.0 - self.beta2.powi(t);
            for (name, t) in &vars {
                let mut g = t.grad();
                if !g.defined() {
                    continue;
                }
                let gs = &g * scale;
                let m = self.m.get_mut(name).expect("state for every variable");
                *m = &*m * self.beta1 + &gs * (1.0 - self.beta1);
                let v = self.v.get_mut(name).expect("state for every variable");
                *v = &*v * self.beta2 + gs.square() * (1.0 - self.beta2);
                let upd = (&*m / bc1) / ((&*v / bc2).sqrt() + self.eps) * lr;
                let _ = t.shallow_clone().f_sub_(&upd).expect("in-place update");
                let _ = g.zero_();
            }
            norm
        })
    }
}
