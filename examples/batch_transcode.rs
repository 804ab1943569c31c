//! Batch transcoding with the library alone (no GStreamer): every PNG/JPEG in a
//! folder to .gllmm, with size and PSNR per file.
//!
//! `cargo run --release --example batch_transcode -- IN_DIR OUT_DIR [QUALITY]`

use gllmm::{Codec, CodecOptions, EncodeOptions, Image};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: batch_transcode IN_DIR OUT_DIR [QUALITY]".into());
    }
    let (inp, out) = (
        std::path::Path::new(&args[1]),
        std::path::Path::new(&args[2]),
    );
    let quality: f64 = args.get(3).map(|q| q.parse()).transpose()?.unwrap_or(50.0);
    std::fs::create_dir_all(out)?;
    let codec = Codec::load_default(&CodecOptions::default())?;
    for path in gllmm::train::data::image_files(inp)? {
        let rgb = image::open(&path)?.to_rgb8();
        let img = Image::new_rgb(rgb.width(), rgb.height(), rgb.into_raw())?;
        let (bytes, rec) = codec.encode_and_reconstruct(
            &img,
            &EncodeOptions {
                quality,
                ..Default::default()
            },
        )?;
        let dst = out.join(path.file_stem().unwrap()).with_extension("gllmm");
        std::fs::write(&dst, &bytes)?;
        println!(
            "{} -> {}: {} bytes, {:.3} bpp, {:.2} dB",
            path.display(),
            dst.display(),
            bytes.len(),
            bytes.len() as f64 * 8.0 / f64::from(img.width * img.height),
            gllmm::metrics::psnr(&img, &rec)
        );
    }
    Ok(())
}
