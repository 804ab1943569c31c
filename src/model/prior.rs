//! The learned factorized density of z (Ballé et al. 2018): one small monotone
//! network per channel, frozen into integer tables for coding.

use crate::entropy::factorized::{ChannelTable, FactorizedPrior};
use tch::{Kind, Tensor, nn::Init, nn::Path};

const FILTERS: [i64; 5] = [1, 3, 3, 3, 1];
const INIT_SCALE: f64 = 10.0;
/// Largest |z| a frozen table covers; values beyond are escaped.
const TABLE_REACH: i32 = 128;

#[derive(Debug)]
pub struct DensityModel {
    matrices: Vec<Tensor>,
    biases: Vec<Tensor>,
    factors: Vec<Tensor>,
    channels: i64,
}

impl DensityModel {
    pub fn new(p: Path, channels: i64) -> Self {
        let scale = INIT_SCALE.powf(1.0 / (FILTERS.len() - 1) as f64);
        let mut matrices = Vec::new();
        let mut biases = Vec::new();
        let mut factors = Vec::new();
        for i in 0..FILTERS.len() - 1 {
            let (fin, fout) = (FILTERS[i], FILTERS[i + 1]);
            let init = (1.0 / scale / fout as f64).exp_m1().ln();
            matrices.push(p.var(
                &format!("matrix{i}"),
                &[channels, fout, fin],
                Init::Const(init),
            ));
            biases.push(p.var(
                &format!("bias{i}"),
                &[channels, fout, 1],
                Init::Uniform { lo: -0.5, up: 0.5 },
            ));
            if i < FILTERS.len() - 2 {
                factors.push(p.var(
                    &format!("factor{i}"),
                    &[channels, fout, 1],
                    Init::Const(0.0),
                ));
            }
        }
        Self {
            matrices,
            biases,
            factors,
            channels,
        }
    }

    /// Logit of the CDF at `x`: `[C, 1, L]` -> `[C, 1, L]`.
    fn logits_cumulative(&self, x: &Tensor) -> Tensor {
        let mut h = x.shallow_clone();
        for i in 0..self.matrices.len() {
            h = self.matrices[i].softplus().matmul(&h) + &self.biases[i];
            if i < self.factors.len() {
                h = &h + self.factors[i].tanh() * h.tanh();
            }
        }
        h
    }

    /// Likelihood of (noisy) z `[B, C, H, W]`, lower-bounded like the mixture's.
    pub fn likelihood(&self, z: &Tensor) -> Tensor {
        let s = z.size();
        let x = z.permute([1, 0, 2, 3]).reshape([self.channels, 1, -1]);
        let lower = self.logits_cumulative(&(&x - 0.5));
        let upper = self.logits_cumulative(&(&x + 0.5));
        // Evaluate in the tail with smaller magnitude for precision.
        let sign = -(&lower + &upper).sign().detach();
        let l = ((&sign * &upper).sigmoid() - (&sign * &lower).sigmoid()).abs();
        let l = l
            .reshape([self.channels, s[0], s[2], s[3]])
            .permute([1, 0, 2, 3]);
        &l + (l.clamp_min(super::entropy_params::LIKELIHOOD_BOUND) - &l).detach()
    }

    /// Freezes the density into per-channel integer tables.
    pub fn freeze(&self) -> FactorizedPrior {
        tch::no_grad(|| {
            let grid: Vec<f32> = (-TABLE_REACH..=TABLE_REACH + 1)
                .map(|v| v as f32 - 0.5)
                .collect();
            let n = grid.len() as i64;
            let x = Tensor::from_slice(&grid)
                .to_device(self.matrices[0].device())
                .view([1, 1, n])
                .expand([self.channels, 1, n], false);
            let cdf = self
                .logits_cumulative(&x)
                .sigmoid()
                .to_kind(Kind::Double)
                .to_device(tch::Device::Cpu);
            let cdf: Vec<f64> = Vec::try_from(cdf.flatten(0, -1)).expect("cdf to vec");
            let channels = (0..self.channels as usize)
                .map(|c| {
                    let row = &cdf[c * n as usize..(c + 1) * n as usize];
                    // Trim tails whose mass is negligible: they are escaped instead.
                    let lo = row
                        .iter()
                        .position(|&p| p > 1e-7)
                        .unwrap_or(0)
                        .saturating_sub(1);
                    let hi = row
                        .iter()
                        .rposition(|&p| p < 1.0 - 1e-7)
                        .unwrap_or(row.len() - 1)
                        .max(lo + 1);
                    let vlo = lo as i32 - TABLE_REACH;
                    let vhi = (hi as i32 - TABLE_REACH).clamp(vlo, TABLE_REACH);
                    ChannelTable::from_cdf(vlo, vhi, |x| {
                        let i = (x + 0.5) as i64 + i64::from(TABLE_REACH);
                        row[i.clamp(0, n - 1) as usize]
                    })
                    .expect("a frozen density is a valid table")
                })
                .collect();
            FactorizedPrior { channels }
        })
    }
}
