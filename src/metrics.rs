//! Picture quality metrics on 8-bit images.

use crate::image::Image;

/// PSNR in dB over all channels (RGB for colour images), 8-bit peak.
pub fn psnr(a: &Image, b: &Image) -> f64 {
    let mse = mse(&a.to_rgb(), &b.to_rgb());
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

pub fn mse(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images must have the same size");
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    s / a.len().max(1) as f64
}

/// MS-SSIM (Wang et al. 2003) on the luma-free mean of RGB channels, 5 scales,
/// Gaussian window σ = 1.5. Images smaller than 11 pixels at a scale stop early.
pub fn ms_ssim(a: &Image, b: &Image) -> f64 {
    const W: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
    let (w, h) = (a.width as usize, a.height as usize);
    let ra = a.to_rgb();
    let rb = b.to_rgb();
    let mut result = 1.0;
    let mut wsum = 0.0;
    for ch in 0..3 {
        let mut x: Vec<f64> = ra
            .iter()
            .skip(ch)
            .step_by(3)
            .map(|&v| f64::from(v))
            .collect();
        let mut y: Vec<f64> = rb
            .iter()
            .skip(ch)
            .step_by(3)
            .map(|&v| f64::from(v))
            .collect();
        let (mut cw, mut chh) = (w, h);
        let mut val = 1.0;
        let mut used = 0.0;
        for (s, &wt) in W.iter().enumerate() {
            if cw < 11 || chh < 11 {
                break;
            }
            let (l, cs) = ssim_components(&x, &y, cw, chh);
            val *= if s == W.len() - 1 || cw / 2 < 11 || chh / 2 < 11 {
                (l * cs).max(1e-12).powf(wt)
            } else {
                cs.max(1e-12).powf(wt)
            };
            used += wt;
            x = downsample(&x, cw, chh);
            y = downsample(&y, cw, chh);
            cw /= 2;
            chh /= 2;
        }
        if used == 0.0 {
            // Too small for a window: fall back to a global SSIM-like score.
            let (l, cs) = ssim_components(&x, &y, cw, chh);
            val = l * cs;
            used = 1.0;
        }
        result *= val.powf(1.0 / used);
        wsum += 1.0;
    }
    result.powf(1.0 / wsum)
}

fn downsample(x: &[f64], w: usize, h: usize) -> Vec<f64> {
    let (nw, nh) = (w / 2, h / 2);
    let mut o = vec![0.0; nw * nh];
    for i in 0..nh {
        for j in 0..nw {
            o[i * nw + j] = (x[2 * i * w + 2 * j]
                + x[2 * i * w + 2 * j + 1]
                + x[(2 * i + 1) * w + 2 * j]
                + x[(2 * i + 1) * w + 2 * j + 1])
                / 4.0;
        }
    }
    o
}

fn blur(x: &[f64], w: usize, h: usize) -> Vec<f64> {
    let k: Vec<f64> = {
        let v: Vec<f64> = (-5..=5)
            .map(|i: i32| (-(f64::from(i * i)) / (2.0 * 1.5 * 1.5)).exp())
            .collect();
        let s: f64 = v.iter().sum();
        v.into_iter().map(|a| a / s).collect()
    };
    let r = 5usize
        .min(w.saturating_sub(1) / 2)
        .min(h.saturating_sub(1) / 2);
    let off = 5 - r;
    let (ow, oh) = (w - 2 * r, h - 2 * r);
    let mut tmp = vec![0.0; ow * h];
    for i in 0..h {
        for j in 0..ow {
            tmp[i * ow + j] = (0..=2 * r).map(|t| k[off + t] * x[i * w + j + t]).sum();
        }
    }
    let mut o = vec![0.0; ow * oh];
    for i in 0..oh {
        for j in 0..ow {
            o[i * ow + j] = (0..=2 * r)
                .map(|t| k[off + t] * tmp[(i + t) * ow + j])
                .sum();
        }
    }
    o
}

fn ssim_components(x: &[f64], y: &[f64], w: usize, h: usize) -> (f64, f64) {
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let mx = blur(x, w, h);
    let my = blur(y, w, h);
    let xx: Vec<f64> = x.iter().map(|v| v * v).collect();
    let yy: Vec<f64> = y.iter().map(|v| v * v).collect();
    let xy: Vec<f64> = x.iter().zip(y).map(|(a, b)| a * b).collect();
    let (sxx, syy, sxy) = (blur(&xx, w, h), blur(&yy, w, h), blur(&xy, w, h));
    let n = mx.len() as f64;
    let (mut l, mut cs) = (0.0, 0.0);
    for i in 0..mx.len() {
        let (vx, vy, cxy) = (
            sxx[i] - mx[i] * mx[i],
            syy[i] - my[i] * my[i],
            sxy[i] - mx[i] * my[i],
        );
        l += (2.0 * mx[i] * my[i] + c1) / (mx[i] * mx[i] + my[i] * my[i] + c1);
        cs += (2.0 * cxy + c2) / (vx + vy + c2);
    }
    (l / n, cs / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images() {
        let img = Image::new_rgb(40, 30, (0..3600).map(|i| (i * 7 % 256) as u8).collect()).unwrap();
        assert!(psnr(&img, &img).is_infinite());
        assert!((ms_ssim(&img, &img) - 1.0).abs() < 1e-9);
        let mut other = img.clone();
        other
            .data
            .iter_mut()
            .for_each(|v| *v = v.saturating_add(10));
        assert!(psnr(&img, &other) < 30.0);
        assert!(ms_ssim(&img, &other) < 1.0);
    }
}
