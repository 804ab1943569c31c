//! Measuring ourselves: real-coding rate–distortion curves (`gllmm eval`), the
//! system codecs on the same pictures (`gllmm compare`), Bjøntegaard deltas and an
//! RD plot.

use crate::{Codec, EncodeOptions, Error, Image, metrics};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// One codec's averaged curve, one entry per operating point (Kodak convention:
/// each figure is the mean over images at that setting).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Curve {
    /// The codec's own setting per point (quality, quantiser or distance).
    pub quality: Vec<f64>,
    pub bpp: Vec<f64>,
    pub psnr: Vec<f64>,
    pub ms_ssim: Vec<f64>,
    pub encode_ms: Vec<f64>,
    pub decode_ms: Vec<f64>,
    /// PSNR of the transforms alone, latents unrounded ([`Codec::unquantised`]), when measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub psnr_unquantised: Vec<f64>,
}

impl Curve {
    fn push(&mut self, q: f64, rows: &[[f64; 5]]) {
        let n = rows.len().max(1) as f64;
        let mean = |k: usize| rows.iter().map(|r| r[k]).sum::<f64>() / n;
        self.quality.push(q);
        self.bpp.push(mean(0));
        self.psnr.push(mean(1));
        self.ms_ssim.push(mean(2));
        self.encode_ms.push(mean(3));
        self.decode_ms.push(mean(4));
    }

    pub fn points(&self) -> Vec<(f64, f64)> {
        self.bpp
            .iter()
            .copied()
            .zip(self.psnr.iter().copied())
            .collect()
    }
}

/// PSNR of [`Codec::unquantised`] at each quality, averaged over the images.
pub fn unquantised_psnr(
    codec: &Codec,
    images: &[Image],
    qualities: &[f64],
) -> Result<Vec<f64>, Error> {
    let mut sums = vec![0.0; qualities.len()];
    for img in images {
        for (sum, rec) in sums.iter_mut().zip(codec.unquantised_at(img, qualities)?) {
            *sum += metrics::psnr(img, &rec);
        }
    }
    Ok(sums
        .into_iter()
        .map(|s| s / images.len().max(1) as f64)
        .collect())
}

/// Real bpp (file size), PSNR, MS-SSIM and timings of gllmm at each quality.
pub fn eval(
    codec: &Codec,
    images: &[Image],
    qualities: &[f64],
    opts: &EncodeOptions,
    mut progress: impl FnMut(&str),
) -> Result<Curve, Error> {
    let mut curve = Curve::default();
    for &q in qualities {
        let mut rows = Vec::new();
        for (i, img) in images.iter().enumerate() {
            let o = EncodeOptions {
                quality: q,
                ..opts.clone()
            };
            let t = Instant::now();
            let bytes = codec.encode(img, &o)?;
            let enc = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let rec = codec.decode(&bytes)?;
            let dec = t.elapsed().as_secs_f64() * 1e3;
            let bpp = bytes.len() as f64 * 8.0 / f64::from(img.width * img.height);
            rows.push([
                bpp,
                metrics::psnr(img, &rec),
                metrics::ms_ssim(img, &rec),
                enc,
                dec,
            ]);
            progress(&format!("quality {q:.1}: image {}/{}", i + 1, images.len()));
        }
        curve.push(q, &rows);
    }
    Ok(curve)
}

/// A system codec driven through its command-line tools.
pub struct SystemCodec {
    pub name: &'static str,
    pub tools: [&'static str; 2],
    /// Settings swept, from low to high rate.
    pub settings: &'static [f64],
    encode: fn(f64, &Path, &Path, &Path) -> Command,
    decode: fn(&Path, &Path) -> Command,
    ext: &'static str,
}

fn cmd(prog: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
    let mut c = Command::new(prog);
    for a in args {
        c.arg(a);
    }
    c
}

/// The codecs `gllmm compare` runs: JPEG (libjpeg-turbo), WebP, AVIF 4:4:4, HEIF (x265), JPEG XL.
pub fn system_codecs() -> Vec<SystemCodec> {
    vec![
        SystemCodec {
            name: "JPEG",
            tools: ["cjpeg", "djpeg"],
            settings: &[
                3.0, 6.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 75.0, 85.0, 92.0,
            ],
            encode: |q, _png, ppm, out| {
                cmd(
                    "cjpeg",
                    &[
                        &"-quality",
                        &format!("{}", q as i32),
                        &"-outfile",
                        &out,
                        &ppm,
                    ],
                )
            },
            decode: |inp, out| cmd("djpeg", &[&"-pnm", &"-outfile", &out, &inp]),
            ext: "jpg",
        },
        SystemCodec {
            name: "WebP",
            tools: ["cwebp", "dwebp"],
            settings: &[0.0, 5.0, 15.0, 30.0, 45.0, 60.0, 75.0, 85.0, 92.0],
            encode: |q, png, _ppm, out| {
                cmd(
                    "cwebp",
                    &[&"-quiet", &"-q", &format!("{q}"), &png, &"-o", &out],
                )
            },
            decode: |inp, out| cmd("dwebp", &[&"-quiet", &"-ppm", &inp, &"-o", &out]),
            ext: "webp",
        },
        SystemCodec {
            name: "AVIF",
            tools: ["avifenc", "avifdec"],
            settings: &[63.0, 58.0, 52.0, 46.0, 40.0, 34.0, 28.0, 22.0, 16.0],
            encode: |q, png, _ppm, out| {
                let q = format!("{}", q as i32);
                cmd(
                    "avifenc",
                    &[
                        &"-y", &"444", &"-s", &"6", &"--min", &q, &"--max", &q, &png, &out,
                    ],
                )
            },
            decode: |inp, out| cmd("avifdec", &[&inp, &out]),
            ext: "avif",
        },
        SystemCodec {
            name: "HEIF",
            tools: ["heif-enc", "heif-convert"],
            settings: &[1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0],
            encode: |q, png, _ppm, out| {
                cmd(
                    "heif-enc",
                    &[
                        &"-q",
                        &format!("{}", q as i32),
                        &"-p",
                        &"chroma=444",
                        &png,
                        &"-o",
                        &out,
                    ],
                )
            },
            decode: |inp, out| cmd("heif-convert", &[&inp, &out]),
            ext: "heic",
        },
        SystemCodec {
            name: "JPEG XL",
            tools: ["cjxl", "djxl"],
            settings: &[15.0, 11.0, 8.0, 5.0, 3.5, 2.5, 1.8, 1.2, 0.8, 0.5],
            encode: |d, png, _ppm, out| {
                cmd("cjxl", &[&png, &out, &"-d", &format!("{d}"), &"--quiet"])
            },
            decode: |inp, out| cmd("djxl", &[&inp, &out, &"--quiet"]),
            ext: "jxl",
        },
    ]
}

fn available(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

impl SystemCodec {
    /// The first of this codec's tools that is not installed.
    pub fn missing_tool(&self) -> Option<&'static str> {
        self.tools.iter().copied().find(|t| !available(t))
    }

    /// Runs the sweep over `images`; `work` is a scratch directory.
    pub fn run(&self, images: &[Image], work: &Path) -> Result<Curve, Error> {
        let mut curve = Curve::default();
        for &s in self.settings {
            let mut rows = Vec::new();
            for (i, img) in images.iter().enumerate() {
                let png = work.join(format!("in{i}.png"));
                let ppm = work.join(format!("in{i}.ppm"));
                if !png.exists() {
                    let rgb = img.to_rgb();
                    image::save_buffer(
                        &png,
                        &rgb,
                        img.width,
                        img.height,
                        image::ExtendedColorType::Rgb8,
                    )
                    .map_err(|e| Error::InvalidInput(e.to_string()))?;
                    // Binary PPM (P6): what cjpeg reads (the image crate would write PAM).
                    let mut p6 = format!("P6\n{} {}\n255\n", img.width, img.height).into_bytes();
                    p6.extend_from_slice(&rgb);
                    std::fs::write(&ppm, p6)?;
                }
                let out = work.join(format!("out.{}", self.ext));
                let back = work.join(if self.name == "JPEG" || self.name == "WebP" {
                    "back.ppm"
                } else {
                    "back.png"
                });
                let t = Instant::now();
                run_tool((self.encode)(s, &png, &ppm, &out))?;
                let enc = t.elapsed().as_secs_f64() * 1e3;
                let t = Instant::now();
                run_tool((self.decode)(&out, &back))?;
                let dec = t.elapsed().as_secs_f64() * 1e3;
                let size = std::fs::metadata(&out)?.len();
                let r = image::open(&back)
                    .map_err(|e| Error::InvalidInput(format!("{}: {e}", back.display())))?
                    .to_rgb8();
                let rec = Image::new_rgb(r.width(), r.height(), r.into_raw())?;
                let bpp = size as f64 * 8.0 / f64::from(img.width * img.height);
                rows.push([
                    bpp,
                    metrics::psnr(img, &rec),
                    metrics::ms_ssim(img, &rec),
                    enc,
                    dec,
                ]);
            }
            curve.push(s, &rows);
        }
        Ok(curve)
    }
}

fn run_tool(mut c: Command) -> Result<(), Error> {
    let out = c.output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{:?} failed: {}",
            c,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Least-squares cubic fit `y = c0 + c1 x + c2 x² + c3 x³`.
fn cubic_fit(x: &[f64], y: &[f64]) -> Option<[f64; 4]> {
    if x.len() < 4 {
        return None;
    }
    let mut a = [[0.0f64; 5]; 4];
    for (&xi, &yi) in x.iter().zip(y) {
        let p = [1.0, xi, xi * xi, xi * xi * xi];
        for r in 0..4 {
            for c in 0..4 {
                a[r][c] += p[r] * p[c];
            }
            a[r][4] += p[r] * yi;
        }
    }
    for col in 0..4 {
        let piv = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        a.swap(col, piv);
        if a[col][col].abs() < 1e-12 {
            return None;
        }
        for r in 0..4 {
            if r != col {
                let f = a[r][col] / a[col][col];
                let pivot_row = a[col];
                for (x, p) in a[r][col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
            }
        }
    }
    Some([0, 1, 2, 3].map(|i| a[i][4] / a[i][i]))
}

fn integral(c: &[f64; 4], lo: f64, hi: f64) -> f64 {
    let f =
        |x: f64| c[0] * x + c[1] * x * x / 2.0 + c[2] * x.powi(3) / 3.0 + c[3] * x.powi(4) / 4.0;
    f(hi) - f(lo)
}

/// Bjøntegaard delta rate of `test` against `anchor` in percent (negative: `test`
/// needs fewer bits for the same PSNR), over their overlapping PSNR range.
/// `None` when the curves do not overlap or have fewer than four points.
pub fn bd_rate(anchor: &[(f64, f64)], test: &[(f64, f64)]) -> Option<f64> {
    let (ar, ap): (Vec<f64>, Vec<f64>) = anchor.iter().map(|&(r, p)| (r.ln(), p)).unzip();
    let (tr, tp): (Vec<f64>, Vec<f64>) = test.iter().map(|&(r, p)| (r.ln(), p)).unzip();
    let ca = cubic_fit(&ap, &ar)?;
    let ct = cubic_fit(&tp, &tr)?;
    let lo = ap
        .iter()
        .cloned()
        .fold(f64::MAX, f64::min)
        .max(tp.iter().cloned().fold(f64::MAX, f64::min));
    let hi = ap
        .iter()
        .cloned()
        .fold(f64::MIN, f64::max)
        .min(tp.iter().cloned().fold(f64::MIN, f64::max));
    if hi <= lo {
        return None;
    }
    let avg = (integral(&ct, lo, hi) - integral(&ca, lo, hi)) / (hi - lo);
    Some((avg.exp() - 1.0) * 100.0)
}

/// An RD plot (bpp vs PSNR) of several curves as SVG.
pub fn rd_plot_svg(curves: &[(String, Vec<(f64, f64)>)], title: &str) -> String {
    let pts: Vec<(f64, f64)> = curves.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let (x0, x1) = (0.0, pts.iter().map(|p| p.0).fold(0.5, f64::max).min(2.5));
    let (y0, y1) = (
        pts.iter()
            .map(|p| p.1)
            .fold(f64::MAX, f64::min)
            .floor()
            .max(15.0),
        pts.iter()
            .map(|p| p.1)
            .fold(f64::MIN, f64::max)
            .ceil()
            .min(50.0),
    );
    let (w, h, m) = (800.0, 560.0, 60.0);
    let sx = |x: f64| m + (x - x0) / (x1 - x0) * (w - 2.0 * m);
    let sy = |y: f64| h - m - (y - y0) / (y1 - y0).max(1e-9) * (h - 2.0 * m);
    let colours = [
        "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    ];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"25\" text-anchor=\"middle\" font-size=\"16\">{title}</text>\n",
        w / 2.0
    );
    s += &format!(
        "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - m,
        w - m,
        h - m
    );
    s += &format!(
        "<line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - m
    );
    let mut x = 0.0;
    while x <= x1 + 1e-9 {
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{x:.2}</text>\n",
            sx(x),
            h - m + 18.0
        );
        x += 0.25;
    }
    let mut y = y0;
    while y <= y1 + 1e-9 {
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{y:.0}</text>\n<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#eee\"/>\n",
            m - 6.0,
            sy(y) + 4.0,
            sy(y),
            w - m,
            sy(y)
        );
        y += 2.0;
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">bits per pixel</text>\n",
        w / 2.0,
        h - 15.0
    );
    s += &format!(
        "<text x=\"18\" y=\"{}\" transform=\"rotate(-90 18 {})\" text-anchor=\"middle\">PSNR (RGB, dB)</text>\n",
        h / 2.0,
        h / 2.0
    );
    for (i, (name, c)) in curves.iter().enumerate() {
        let col = colours[i % colours.len()];
        let path: Vec<String> = c
            .iter()
            .filter(|p| p.0 <= x1)
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y.clamp(y0, y1))))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{col}\" stroke-width=\"2\" points=\"{}\"/>\n",
            path.join(" ")
        );
        s += &format!(
            "<text x=\"{}\" y=\"{}\" fill=\"{col}\">{name}</text>\n",
            w - m - 150.0,
            m + 20.0 + 18.0 * i as f64
        );
    }
    s + "</svg>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bd_rate_of_a_scaled_curve() {
        let a: Vec<(f64, f64)> = [0.1, 0.2, 0.4, 0.8, 1.6]
            .iter()
            .map(|&r: &f64| (r, 30.0 + 4.0 * r.ln()))
            .collect();
        let b: Vec<(f64, f64)> = a.iter().map(|&(r, p)| (r * 0.8, p)).collect();
        let d = bd_rate(&a, &b).unwrap();
        assert!((d + 20.0).abs() < 1e-6, "{d}");
        assert!(bd_rate(&a, &a).unwrap().abs() < 1e-9);
        assert!(bd_rate(&a[..3], &b).is_none());
    }
}
