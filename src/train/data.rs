//! Training data: every PNG/JPEG under a folder, decoded once into memory, served
//! as batches of random flipped crops by a background thread.

use crate::Error;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use tch::Tensor;

/// Image files under `dir`, recursively, sorted (so runs are repeatable).
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    if !dir.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "png" | "jpg" | "jpeg" | "ppm"
                )
            })
        })
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no PNG or JPEG images under {}",
            dir.display()
        )));
    }
    Ok(v)
}

/// A decoded RGB picture.
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

/// Decodes the images at least `crop` pixels in each dimension.
pub fn load_images(files: &[PathBuf], crop: usize) -> Vec<RgbImage> {
    files
        .iter()
        .filter_map(|p| image::open(p).ok())
        .map(|i| i.to_rgb8())
        .filter(|i| i.width() as usize >= crop && i.height() as usize >= crop)
        .map(|i| RgbImage {
            width: i.width() as usize,
            height: i.height() as usize,
            data: i.into_raw(),
        })
        .collect()
}

/// A batch `[B, 3, crop, crop]` in 0..1 from random crops with random flips.
pub fn random_batch(images: &[RgbImage], batch: usize, crop: usize, rng: &mut impl Rng) -> Tensor {
    let mut buf = vec![0f32; batch * 3 * crop * crop];
    for b in 0..batch {
        let img = &images[rng.gen_range(0..images.len())];
        let x0 = rng.gen_range(0..=img.width - crop);
        let y0 = rng.gen_range(0..=img.height - crop);
        let (fx, fy) = (rng.r#gen::<bool>(), rng.r#gen::<bool>());
        for i in 0..crop {
            let sy = y0 + if fy { crop - 1 - i } else { i };
            for j in 0..crop {
                let sx = x0 + if fx { crop - 1 - j } else { j };
                let p = (sy * img.width + sx) * 3;
                for c in 0..3 {
                    buf[((b * 3 + c) * crop + i) * crop + j] = f32::from(img.data[p + c]) / 255.0;
                }
            }
        }
    }
    Tensor::from_slice(&buf).view([batch as i64, 3, crop as i64, crop as i64])
}

/// Starts the loader thread; batches arrive on the returned channel.
pub fn spawn_loader(
    dir: &Path,
    batch: usize,
    crop: usize,
    seed: u64,
) -> Result<Receiver<Tensor>, Error> {
    let files = image_files(dir)?;
    let images = load_images(&files, crop);
    if images.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no decodable image of at least {crop}x{crop} under {}",
            dir.display()
        )));
    }
    let (tx, rx) = sync_channel(4);
    std::thread::Builder::new()
        .name("gllmm-loader".into())
        .spawn(move || {
            let mut rng = StdRng::seed_from_u64(seed);
            while tx
                .send(random_batch(&images, batch, crop, &mut rng))
                .is_ok()
            {}
        })?;
    Ok(rx)
}
