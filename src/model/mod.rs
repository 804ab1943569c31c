//! The network on tch: transforms, hyperprior, context models, entropy parameters,
//! variable-rate gains. No entropy coding here.

pub mod config;
pub mod context;
pub mod entropy_params;
pub mod layers;
pub mod prior;
pub mod refine;
pub mod transforms;
pub mod weights;

pub use config::ModelConfig;
pub use layers::Precision;

use crate::format::ContextMode;
use context::ContextModels;
use entropy_params::EntropyParameters;
use prior::DensityModel;
use tch::{Kind, Tensor, nn::Init, nn::Path};
use transforms::{Analysis, HyperAnalysis, HyperSynthesis, Synthesis};

/// Spatial multiple the network needs: 16 for y, 4 more for z.
pub const PAD_MULTIPLE: i64 = 64;

#[derive(Debug)]
pub struct Network {
    pub config: ModelConfig,
    pub g_a: Analysis,
    pub g_s: Synthesis,
    pub h_a: HyperAnalysis,
    pub h_s: HyperSynthesis,
    pub context: ContextModels,
    pub entropy_parameters: EntropyParameters,
    pub z_density: DensityModel,
    /// `[L, M]` log gains applied to y, and log inverse gains before g_s.
    log_gain: Tensor,
    log_inv_gain: Tensor,
}

/// What one training forward pass produces.
pub struct TrainOutput {
    pub x_hat: Tensor,
    pub y_likelihood: Tensor,
    pub z_likelihood: Tensor,
}

/// libtorch's random generator is global: whoever seeds it and initialises a
/// network holds this lock, so concurrent initialisations do not interleave.
pub fn init_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Straight-through rounding: round in the forward pass, identity gradient.
pub fn ste_round(x: &Tensor) -> Tensor {
    x + (x.round() - x).detach()
}

impl Network {
    pub fn new(p: &Path, config: &ModelConfig) -> Self {
        let (n, m, nz) = (config.n, config.m, config.nz);
        let l = config.lambdas.len() as i64;
        // Initial gains spread 0.5..2 so the λ levels start at different rates.
        let spread: Vec<f32> = (0..l)
            .flat_map(|i| {
                let t = if l > 1 {
                    i as f64 / (l - 1) as f64
                } else {
                    0.5
                };
                let g = (0.5f64.ln() + t * 4f64.ln()) as f32;
                std::iter::repeat_n(g, m as usize)
            })
            .collect();
        let log_gain = (p / "gain").var("log_gain", &[l, m], Init::Const(0.0));
        let log_inv_gain = (p / "gain").var("log_inv_gain", &[l, m], Init::Const(0.0));
        tch::no_grad(|| {
            let s = Tensor::from_slice(&spread)
                .view([l, m])
                .to_device(p.device());
            log_gain.shallow_clone().copy_(&s);
            log_inv_gain.shallow_clone().copy_(&(-s));
        });
        Self {
            config: config.clone(),
            g_a: Analysis::new(p / "g_a", n, m),
            g_s: Synthesis::new(p / "g_s", n, m),
            h_a: HyperAnalysis::new(p / "h_a", m, nz),
            h_s: HyperSynthesis::new(p / "h_s", nz, m),
            context: ContextModels::new(p / "context", m),
            entropy_parameters: EntropyParameters::new(p / "entropy_parameters", m),
            z_density: DensityModel::new(p / "z_density", nz),
            log_gain,
            log_inv_gain,
        }
    }

    /// Geometric interpolation of a gain table at continuous λ position `pos`.
    fn interp(&self, table: &Tensor, pos: f64) -> Tensor {
        let l = self.config.lambdas.len() as i64;
        let pos = pos.clamp(0.0, (l - 1) as f64);
        let i = (pos.floor() as i64).min(l - 2).max(0);
        let a = pos - i as f64;
        let lg = if l == 1 {
            table.get(0)
        } else {
            table.get(i) * (1.0 - a) + table.get(i + 1) * a
        };
        lg.exp().view([1, -1, 1, 1])
    }

    /// Position in the λ table for a quality in 0..=100.
    pub fn quality_position(&self, quality: f64) -> f64 {
        quality.clamp(0.0, 100.0) / 100.0 * (self.config.lambdas.len() - 1) as f64
    }

    /// The qualities whose positions are exactly the trained λs (the inverse of
    /// `quality_position` at whole positions).
    pub fn anchor_qualities(&self) -> Vec<f64> {
        let l = self.config.lambdas.len();
        if l < 2 {
            return vec![100.0];
        }
        (0..l).map(|i| 100.0 * i as f64 / (l - 1) as f64).collect()
    }

    pub fn gain(&self, quality: f64) -> Tensor {
        self.interp(&self.log_gain, self.quality_position(quality))
    }

    pub fn inv_gain(&self, quality: f64) -> Tensor {
        self.interp(&self.log_inv_gain, self.quality_position(quality))
    }

    /// The λ a quality stands for: geometric interpolation in the λ table, like the gains.
    pub fn lambda(&self, quality: f64) -> f64 {
        let l = &self.config.lambdas;
        if l.len() == 1 {
            return l[0];
        }
        let pos = self.quality_position(quality);
        let i = (pos.floor() as usize).min(l.len() - 2);
        let a = pos - i as f64;
        (l[i].ln() * (1.0 - a) + l[i + 1].ln() * a).exp()
    }

    /// Training forward pass at λ index `li`: noisy latents for the rates,
    /// straight-through rounding for the reconstruction and the context.
    pub fn forward_train(
        &self,
        x: &Tensor,
        li: usize,
        context: ContextMode,
        prec: Precision,
    ) -> TrainOutput {
        let pos = li as f64;
        let y = self.g_a.forward(x, prec) * self.interp(&self.log_gain, pos);
        self.forward_latents(&y, pos, context, prec, Rates::Noisy)
    }

    /// Everything after g_a, differentiable in the gained latents `y`, at λ position `pos`.
    pub fn forward_latents(
        &self,
        y: &Tensor,
        pos: f64,
        context: ContextMode,
        prec: Precision,
        rates: Rates,
    ) -> TrainOutput {
        let z = self.h_a.forward(y);
        let z_hat = ste_round(&z);
        let hyper = self.h_s.forward(&z_hat);
        let y_hat = match rates {
            Rates::Relaxed(soft) => soft.shallow_clone(),
            _ => ste_round(y),
        };
        let ctx = match context {
            ContextMode::Checkerboard => {
                let s = y.size();
                let mask = context::anchor_mask(s[2], s[3], y.device());
                self.context.checkerboard(&(&y_hat * mask))
            }
            ContextMode::Serial => self.context.serial_all(&y_hat),
        };
        let raw = self.entropy_parameters.forward(&hyper, &ctx);
        let (z_rate, y_rate) = match rates {
            Rates::Noisy => (
                &z + Tensor::rand_like(&z) - 0.5,
                y + Tensor::rand_like(y) - 0.5,
            ),
            Rates::Rounded | Rates::Relaxed(_) => (z_hat, y_hat.shallow_clone()),
        };
        let y_likelihood = entropy_params::mixture_likelihood(&y_rate, &raw);
        let z_likelihood = self.z_density.likelihood(&z_rate);
        let x_hat = self
            .g_s
            .forward(&(&y_hat * self.interp(&self.log_inv_gain, pos)), prec);
        TrainOutput {
            x_hat,
            y_likelihood,
            z_likelihood,
        }
    }
}

/// How [`Network::forward_latents`] stands in for the quantised latents.
#[derive(Clone, Copy, Debug)]
pub enum Rates<'a> {
    /// Rates at y and z plus uniform noise, the rest at the rounded values
    /// (straight-through): the training proxy.
    Noisy,
    /// Everything at the rounded values the coder codes (straight-through).
    Rounded,
    /// Everything about y at this relaxed rounding of it; z rounded straight-through.
    Relaxed(&'a Tensor),
}

/// Variables holding one row of log gains per λ; their rows follow the λ set.
pub const GAIN_TABLES: [&str; 2] = ["gain.log_gain", "gain.log_inv_gain"];

/// Re-targets a `[L, M]` log-gain table trained for the λ set `from` to the set
/// `to`, so a trained model can take on new rates without starting over: each
/// new row is linear in ln λ between the two nearest trained rows, or along the
/// two outermost beyond them.
pub fn retarget_gain_table(table: &Tensor, from: &[f64], to: &[f64]) -> Tensor {
    let rows: Vec<Tensor> = to
        .iter()
        .map(|&l| {
            if from.len() == 1 {
                return table.get(0);
            }
            let i = from
                .iter()
                .position(|&f| f >= l)
                .unwrap_or(from.len() - 1)
                .clamp(1, from.len() - 1);
            let (a, b) = (from[i - 1].ln(), from[i].ln());
            let t = (l.ln() - a) / (b - a);
            table.get(i as i64 - 1) * (1.0 - t) + table.get(i as i64) * t
        })
        .collect();
    Tensor::stack(&rows, 0)
}

/// Bits per pixel from likelihoods for `pixels` pixels.
pub fn bits_per_pixel(likelihood: &Tensor, pixels: i64) -> Tensor {
    likelihood.log2().sum(Kind::Float) / (-(pixels as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Tensor {
        Tensor::from_slice(&[0.0f32, 1.0, 2.0, 4.0]).view([2, 2])
    }

    #[test]
    fn quality_maps_to_lambda_geometrically() {
        let _lock = init_lock();
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let net = Network::new(
            &vs.root(),
            &ModelConfig::new(16, 16, vec![0.01, 0.04, 0.16]),
        );
        for (q, want) in [(0.0, 0.01), (25.0, 0.02), (50.0, 0.04), (100.0, 0.16)] {
            assert!(
                (net.lambda(q) - want).abs() < 1e-12,
                "{q}: {}",
                net.lambda(q)
            );
        }
    }

    #[test]
    fn retargeting_to_the_same_set_is_the_identity() {
        let t = table();
        assert!(retarget_gain_table(&t, &[0.01, 0.04], &[0.01, 0.04]).equal(&t));
    }

    #[test]
    fn new_rows_are_linear_in_log_lambda() {
        let r = retarget_gain_table(&table(), &[0.01, 0.04], &[0.005, 0.02, 0.16]);
        let got: Vec<f32> = Vec::try_from(r.flatten(0, -1)).unwrap();
        let want = [-1.0f32, -0.5, 1.0, 2.5, 4.0, 7.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?} != {want:?}");
        }
    }
}
