//! Hyper and context features -> 30 raw mixture parameters per latent element,
//! and the training-time likelihood of the discretised GLLMM.

use super::layers::{Conv, Precision};
use crate::entropy::mixture::{COMPONENTS, K, RAW_PARAMS, SCALE_MAX, SCALE_MIN};
use tch::{Kind, Tensor, nn::Path};

/// Lower bound on a likelihood (straight-through gradient below it).
pub const LIKELIHOOD_BOUND: f64 = 1e-6;

/// Three 1×1 convolutions: 4M -> 3M -> 3M -> 30M.
#[derive(Debug)]
pub struct EntropyParameters([Conv; 3]);

impl EntropyParameters {
    pub fn new(p: Path, m: i64) -> Self {
        Self([
            Conv::new(&p / "c1", 4 * m, 3 * m, 1, 1),
            Conv::new(&p / "c2", 3 * m, 3 * m, 1, 1),
            Conv::new(&p / "c3", 3 * m, RAW_PARAMS as i64 * m, 1, 1),
        ])
    }

    /// `[B, 2M+2M, H, W]` -> `[B, M·30, H, W]`; channel `m·30 + p` is parameter `p` of latent channel `m`.
    pub fn forward(&self, hyper: &Tensor, ctx: &Tensor) -> Tensor {
        let f = Precision::F32;
        let h = Tensor::cat(&[hyper, ctx], 1);
        let h = self.0[0].forward(&h, f).leaky_relu();
        let h = self.0[1].forward(&h, f).leaky_relu();
        self.0[2].forward(&h, f)
    }
}

fn lower_bound(x: &Tensor, b: f64) -> Tensor {
    // Forward: max(x, b). Backward: identity (straight-through).
    x + (x.clamp_min(b) - x).detach()
}

/// Likelihood of `y` (noisy or rounded) under the mixture given raw parameters
/// `[B, M·30, H, W]`; returns `[B, M, H, W]`.
pub fn mixture_likelihood(y: &Tensor, raw: &Tensor) -> Tensor {
    let s = y.size();
    let (b, m, h, w) = (s[0], s[1], s[2], s[3]);
    let p = raw.view([b, m, RAW_PARAMS as i64, h, w]);
    let fam_logits = p.narrow(2, COMPONENTS as i64 * 3, 3);
    let fam = fam_logits.log_softmax(2, Kind::Float);
    let yv = y.unsqueeze(2);
    let (lmin, lmax) = (SCALE_MIN.ln(), SCALE_MAX.ln());
    let mut total: Option<Tensor> = None;
    for f in 0..3i64 {
        let base = f * 3 * K as i64;
        let logw = p.narrow(2, base, 3).log_softmax(2, Kind::Float) + fam.narrow(2, f, 1);
        let mean = p.narrow(2, base + 3, 3);
        let scale = p.narrow(2, base + 6, 3).clamp(lmin, lmax).exp();
        let up = (&yv + 0.5 - &mean) / &scale;
        let lo = (&yv - 0.5 - &mean) / &scale;
        let mass = match f {
            0 => {
                ((&up / std::f64::consts::SQRT_2).erf() - (&lo / std::f64::consts::SQRT_2).erf())
                    * 0.5
            }
            1 => laplace_cdf(&up) - laplace_cdf(&lo),
            _ => up.sigmoid() - lo.sigmoid(),
        };
        let term = (logw.exp() * mass).sum_dim_intlist([2i64].as_slice(), false, Kind::Float);
        total = Some(match total {
            None => term,
            Some(t) => t + term,
        });
    }
    lower_bound(&total.expect("three families"), LIKELIHOOD_BOUND)
}

fn laplace_cdf(x: &Tensor) -> Tensor {
    // 0.5 + 0.5·sign(x)·(1 − e^{−|x|}), written with expm1 for precision near 0.
    0.5 - 0.5 * x.sign() * x.abs().neg().expm1()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn likelihood_is_differentiable_for_extreme_inputs() {
        let m = 2;
        let vals = [0.0f32, 1e4, -1e4, 30.0, -30.0, 0.5];
        for &v in &vals {
            let raw = (Tensor::randn([1, RAW_PARAMS as i64 * m, 3, 3], (Kind::Float, Device::Cpu))
                * f64::from(v.abs().max(1.0)))
            .set_requires_grad(true);
            let y = (Tensor::randn([1, m, 3, 3], (Kind::Float, Device::Cpu)) * f64::from(v)
                + f64::from(v))
            .set_requires_grad(true);
            let l = mixture_likelihood(&y, &raw);
            assert!(l.min().double_value(&[]) >= LIKELIHOOD_BOUND * 0.999);
            let bits = -l.log2().sum(Kind::Float);
            bits.backward();
            for g in [raw.grad(), y.grad()] {
                assert!(
                    bool::try_from(g.isfinite().all()).unwrap(),
                    "non-finite gradient at {v}"
                );
            }
            // Every one of the 30 parameters gets a gradient path.
            let g = raw
                .grad()
                .view([1, m, RAW_PARAMS as i64, 9])
                .abs()
                .sum_dim_intlist([0i64, 1, 3].as_slice(), false, Kind::Float);
            assert_eq!(g.size(), [RAW_PARAMS as i64]);
        }
    }

    #[test]
    fn likelihood_sums_to_one_over_integers() {
        let raw = Tensor::randn([1, RAW_PARAMS as i64, 1, 1], (Kind::Float, Device::Cpu));
        let mut s = 0.0;
        for v in -200..=200 {
            let y = Tensor::from_slice(&[v as f32]).view([1, 1, 1, 1]);
            s += mixture_likelihood(&y, &raw).double_value(&[0, 0, 0, 0]);
        }
        assert!((s - 1.0).abs() < 1e-3, "{s}");
    }
}
