//! gllmm: a learned image codec with a Gaussian–Laplacian–Logistic mixture entropy model.

pub mod entropy;
pub mod format;
