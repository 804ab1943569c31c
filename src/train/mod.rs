//! Training: data loading, the rate-distortion loss, Adam, checkpoints, export.

pub mod data;
pub mod optim;
pub mod trainer;

pub use trainer::{Stretch, StretchSettings, TrainOptions, Trainer, export, history};
