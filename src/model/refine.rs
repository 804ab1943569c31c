//! Encoder-side latent refinement: gradient descent on one picture's gained
//! latents y under the fixed network, minimising the training loss
//! rate + λ·255²·MSE for that picture alone. Only the encoder spends the time;
//! the decoder and the bitstream do not change.
//!
//! Rounding is relaxed by stochastic Gumbel annealing (Yang et al., NeurIPS 2020):
//! each latent is a random soft choice between its floor and its ceiling that
//! hardens as the temperature falls. Straight-through rounding instead lets every
//! latent drift across rounding boundaries that cost more bits than they save.

use super::{Network, Precision, Rates, bits_per_pixel};
use crate::format::ContextMode;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tch::{Kind, Tensor};

/// Largest number of refinement steps an encode accepts.
pub const MAX_ITERATIONS: u32 = 1000;

/// Largest picture refined. Backpropagating through g_s holds about 2.2 kB per pixel
/// (measured: +860 MB resident for a 768×512 picture), so 4 megapixels need about 9 GB.
pub const MAX_PIXELS: u64 = 1 << 22;

/// Adam's step size on y (the quantisation step is 1).
const LEARNING_RATE: f64 = 0.02;
/// Temperature at the first step and at the last; it falls geometrically between.
const TEMPERATURE: (f64, f64) = (0.5, 0.05);
/// The exact cost of the rounded latents is checked this often (and at the end).
const CHECK_EVERY: u32 = 10;
/// Fixed, so that an encode is reproducible.
const SEED: u64 = 0x6c6c_6d6d;

/// What a refinement did: the exact cost (bits per pixel plus λ-weighted MSE) of the
/// rounded latents before, and of the ones returned.
#[derive(Clone, Copy, Debug)]
pub struct Refined {
    pub initial_cost: f64,
    pub cost: f64,
}

/// How to refine: the encode's settings and the number of Adam steps.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub quality: f64,
    pub context: ContextMode,
    pub precision: Precision,
    pub iterations: u32,
}

/// Refines `y` (from g_a, already gained) for the padded picture `x` of which the
/// top-left `height`×`width` is real. Returns the latents whose rounding costs
/// least among those checked, `y` included, so the result is never worse than `y`.
pub fn refine(
    net: &Network,
    x: &Tensor,
    (height, width): (i64, i64),
    y: &Tensor,
    s: Settings,
) -> (Tensor, Refined) {
    let pos = net.quality_position(s.quality);
    let weight = net.lambda(s.quality) * 255.0 * 255.0;
    let target = x.narrow(2, 0, height).narrow(3, 0, width);
    let pixels = height * width;
    let cost_of = |y: &Tensor, rates: Rates| {
        let out = net.forward_latents(y, pos, s.context, s.precision, rates);
        let x_hat = out
            .x_hat
            .narrow(2, 0, height)
            .narrow(3, 0, width)
            .clamp(0.0, 1.0)
            .to_kind(Kind::Float);
        let mse = (&x_hat - &target).square().mean(Kind::Float);
        bits_per_pixel(&out.y_likelihood, pixels)
            + bits_per_pixel(&out.z_likelihood, pixels)
            + mse * weight
    };
    let exact = |y: &Tensor| tch::no_grad(|| cost_of(y, Rates::Rounded).double_value(&[]));
    let initial = exact(y);
    let mut best = (initial, y.detach().copy());
    let mut rng = StdRng::seed_from_u64(SEED);
    let numel = y.numel();
    let mut var = y.detach().copy();
    let (mut m, mut v) = (y.zeros_like(), y.zeros_like());
    for step in 0..s.iterations {
        let progress = f64::from(step) / f64::from(s.iterations.max(2) - 1);
        let tau = TEMPERATURE.0 * (TEMPERATURE.1 / TEMPERATURE.0).powf(progress);
        let gumbel: Vec<f32> = (0..2 * numel)
            .map(|_| {
                let u: f32 = rng.gen_range(f32::EPSILON..1.0);
                -(-u.ln()).ln()
            })
            .collect();
        let gumbel = Tensor::from_slice(&gumbel)
            .view([2, numel as i64])
            .to_device(y.device());
        let grad = tch::with_grad(|| {
            let leaf = var.detach().set_requires_grad(true);
            let floor = leaf.detach().floor();
            let frac = (&leaf - &floor).clamp(1e-4, 1.0 - 1e-4);
            // A side is likelier the nearer it is; atanh makes the far side's odds
            // vanish as the distance nears 1. The odds and the Gumbel-softmax
            // relaxation share the temperature, so both harden together.
            let logits = Tensor::stack(&[-frac.atanh(), -(frac.ones_like() - &frac).atanh()], 0)
                .reshape([2, -1])
                / tau;
            let up = ((logits + &gumbel) / tau).softmax(0, Kind::Float).get(1);
            let soft = floor + up.reshape_as(&leaf);
            let cost = cost_of(&leaf, Rates::Relaxed(&soft));
            Tensor::run_backward(&[cost], &[&leaf], false, false)
                .pop()
                .expect("one gradient per input")
        });
        let t = f64::from(step + 1);
        tch::no_grad(|| {
            m = &m * 0.9 + &grad * 0.1;
            v = &v * 0.999 + grad.square() * 0.001;
            let m_hat = &m / (1.0 - 0.9f64.powf(t));
            let v_hat = &v / (1.0 - 0.999f64.powf(t));
            var = &var - m_hat / (v_hat.sqrt() + 1e-8) * LEARNING_RATE;
        });
        if (step + 1) % CHECK_EVERY == 0 || step + 1 == s.iterations {
            let c = exact(&var);
            if c < best.0 {
                best = (c, var.copy());
            }
        }
    }
    let (cost, y) = best;
    (
        y,
        Refined {
            initial_cost: initial,
            cost,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;
    use tch::{Device, nn::VarStore};

    #[test]
    fn refinement_lowers_the_exact_cost_and_never_raises_it() {
        let lock = crate::model::init_lock();
        tch::manual_seed(7);
        let mut vs = VarStore::new(Device::Cpu);
        let net = Network::new(&vs.root(), &ModelConfig::new(16, 16, vec![0.002, 0.05]));
        vs.freeze();
        let x = Tensor::rand([1, 3, 64, 64], (Kind::Float, Device::Cpu));
        // Refinement draws its noise from its own generator: other tests may seed now.
        drop(lock);
        // bf16 transforms hand over latents in a non-contiguous layout.
        for (context, precision) in [
            (ContextMode::Checkerboard, Precision::F32),
            (ContextMode::Serial, Precision::F32),
            (ContextMode::Checkerboard, Precision::Bf16),
        ] {
            let y = tch::no_grad(|| net.g_a.forward(&x, precision) * net.gain(100.0));
            let s = Settings {
                quality: 100.0,
                context,
                precision,
                iterations: 0,
            };
            let (none, r0) = refine(&net, &x, (60, 50), &y, s);
            assert!(none.equal(&y));
            assert_eq!(r0.cost, r0.initial_cost);
            let s = Settings {
                iterations: 20,
                ..s
            };
            let (refined, r) = refine(&net, &x, (60, 50), &y, s);
            assert_eq!(refined.size(), y.size());
            assert_eq!(r.initial_cost, r0.initial_cost);
            assert!(
                r.cost < 0.99 * r.initial_cost,
                "{context:?}: {} -> {}",
                r.initial_cost,
                r.cost
            );
            let (again, _) = refine(&net, &x, (60, 50), &y, s);
            assert!(again.equal(&refined), "refinement is reproducible");
        }
    }
}
