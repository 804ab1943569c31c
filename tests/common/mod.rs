//! Helpers shared by the integration tests: a small seeded model and test pictures.

#![allow(dead_code)]

use gllmm::model::ModelConfig;
use gllmm::{Codec, CodecOptions, ColourLayout, Image};

pub fn small_config() -> ModelConfig {
    ModelConfig::new(16, 16, vec![0.002, 0.01, 0.05])
}

pub fn codec(seed: i64) -> Codec {
    Codec::random(
        &small_config(),
        seed,
        &CodecOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A smooth gradient with some texture, deterministic.
pub fn picture(w: u32, h: u32, layout: ColourLayout) -> Image {
    let ch = layout.channels();
    let mut data = Vec::with_capacity((w * h) as usize * ch);
    for y in 0..h {
        for x in 0..w {
            for c in 0..ch as u32 {
                let v = (x * 255 / w.max(1) + y * 3 + c * 40 + (x * y % 7) * 5) % 256;
                data.push(v as u8);
            }
        }
    }
    Image::new(w, h, layout, data).unwrap()
}
