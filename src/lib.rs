//! gllmm: a learned image codec with a Gaussian–Laplacian–Logistic mixture entropy model.
//!
//! ```no_run
//! let codec = gllmm::Codec::load_default(&gllmm::CodecOptions::default())?;
//! let img = gllmm::Image::new_rgb(2, 1, vec![255, 0, 0, 0, 0, 255])?;
//! let bytes = codec.encode(&img, &gllmm::EncodeOptions::default())?;
//! let back = codec.decode(&bytes)?;
//! assert_eq!((back.width, back.height), (2, 1));
//! # Ok::<(), gllmm::Error>(())
//! ```

#[cfg(feature = "torch")]
pub mod codec;
pub mod entropy;
#[cfg(feature = "torch")]
pub mod eval;
pub mod format;
#[cfg(feature = "torch")]
pub mod image;
#[cfg(feature = "torch")]
pub mod metrics;
#[cfg(feature = "torch")]
pub mod model;
#[cfg(feature = "torch")]
pub mod train;

#[cfg(feature = "torch")]
pub use codec::{Codec, CodecOptions, DeviceChoice, EncodeOptions};
pub use format::{ColourLayout, ContextMode};
#[cfg(feature = "torch")]
pub use image::Image;
#[cfg(feature = "torch")]
pub use model::Precision;

/// A decoded picture is an [`Image`].
#[cfg(feature = "torch")]
pub type DecodedImage = Image;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Format(#[from] format::FormatError),
    #[error("entropy decoding failed: {0}")]
    Entropy(#[from] entropy::EntropyError),
    #[error("model: {0}")]
    Model(String),
    #[error(
        "stream was made with model {stream_name:?} ({stream_hash}), this decoder has {model_name:?} ({model_hash})"
    )]
    ModelMismatch {
        stream_name: String,
        stream_hash: String,
        model_name: String,
        model_hash: String,
    },
    #[error(
        "decoded latents do not match the encoder's (checksum mismatch): corrupt stream or a non-deterministic parameter path"
    )]
    LatentMismatch,
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("device: {0}")]
    Device(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[cfg(feature = "torch")]
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Hex string of a model hash, as shown to people.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
