//! Architecture description, stored next to the weights.

use serde::{Deserialize, Serialize};

pub const ARCHITECTURE: &str = "gllmm-cheng2020-crb";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub architecture: String,
    /// Transform width.
    pub n: i64,
    /// Latent channels of y.
    pub m: i64,
    /// Channels of the hyper-latent z.
    pub nz: i64,
    /// Rate-distortion trade-offs the gain vectors were trained for, ascending;
    /// quality 0 maps to the first, quality 100 to the last.
    pub lambdas: Vec<f64>,
}

impl ModelConfig {
    pub fn new(n: i64, m: i64, lambdas: Vec<f64>) -> Self {
        Self {
            architecture: ARCHITECTURE.into(),
            n,
            m,
            nz: n,
            lambdas,
        }
    }

    /// The default λ set: about 0.1 to 1.0 bpp on Kodak for a well-trained model.
    pub fn default_lambdas() -> Vec<f64> {
        vec![0.0008, 0.0018, 0.004, 0.009, 0.02, 0.0483, 0.15]
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.architecture != ARCHITECTURE {
            return Err(format!("unknown architecture {:?}", self.architecture));
        }
        let ok = (8..=512).contains(&self.n)
            && (8..=512).contains(&self.m)
            && (8..=512).contains(&self.nz)
            && self.n % 2 == 0
            && self.m % 2 == 0
            && !self.lambdas.is_empty()
            && self.lambdas.len() <= 16
            && self.lambdas.windows(2).all(|w| w[0] < w[1])
            && self.lambdas.iter().all(|l| l.is_finite() && *l > 0.0);
        if ok {
            Ok(())
        } else {
            Err("invalid model configuration".into())
        }
    }
}
