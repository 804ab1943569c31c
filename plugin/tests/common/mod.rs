//! Shared set-up: GStreamer with the plugin registered statically, and a small
//! seeded model installed in a temporary model directory.

#![allow(dead_code)]

use gllmm::model::ModelConfig;
use std::path::PathBuf;
use std::sync::OnceLock;

pub const MODEL: &str = "testmodel";

/// Initialises GStreamer once and returns the model directory.
pub fn init() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gllmm-plugin-test-{}", std::process::id()));
        let mdir = dir.join(MODEL);
        std::fs::create_dir_all(&mdir).unwrap();
        let cfg = ModelConfig::new(16, 16, vec![0.002, 0.01, 0.05]);
        std::fs::write(
            mdir.join("model.safetensors"),
            gllmm::codec::random_weights(&cfg, 11).unwrap(),
        )
        .unwrap();
        // SAFETY: set once, before GStreamer or any other thread reads the environment.
        unsafe { std::env::set_var("GLLMM_MODEL_DIR", &dir) };
        gst::init().unwrap();
        gstgllmm::plugin_register_static().unwrap();
        dir
    })
    .clone()
}

/// The codec the elements use, for comparisons.
pub fn codec() -> gllmm::Codec {
    let dir = init();
    gllmm::Codec::load(&dir.join(MODEL), &gllmm::CodecOptions::default()).unwrap()
}

/// Deterministic RGB test pixels.
pub fn rgb(w: u32, h: u32, seed: u32) -> Vec<u8> {
    (0..w * h * 3)
        .map(|i| ((i * 7 + seed * 13 + (i / (w * 3)) * 5) % 251) as u8)
        .collect()
}
