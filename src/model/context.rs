//! Context models over already-decoded latents: checkerboard (two passes, parallel)
//! and serial masked 5×5 (raster order). Both produce 2M feature channels.

use super::layers::{Conv, Precision};
use tch::{Device, Kind, Tensor, nn::Path};

/// Anchor positions of the checkerboard: `(row + col)` even. Decoded first, without context.
pub fn is_anchor(row: i64, col: i64) -> bool {
    (row + col) % 2 == 0
}

/// A `[1, 1, h, w]` mask with ones on anchor positions.
pub fn anchor_mask(h: i64, w: i64, device: Device) -> Tensor {
    let r = Tensor::arange(h, (Kind::Int64, device)).view([h, 1]);
    let c = Tensor::arange(w, (Kind::Int64, device)).view([1, w]);
    (r + c)
        .remainder(2)
        .eq(0)
        .to_kind(Kind::Float)
        .view([1, 1, h, w])
}

#[derive(Debug)]
pub struct ContextModels {
    /// Checkerboard: a plain 5×5 conv over the anchor-only latents.
    checker: Conv,
    /// Serial: a 5×5 conv masked to the positions above and to the left (type A).
    serial: Conv,
    mask: Tensor,
}

impl ContextModels {
    pub fn new(p: Path, m: i64) -> Self {
        let checker = Conv::new(&p / "checkerboard", m, 2 * m, 5, 1);
        let serial = Conv::new(&p / "serial", m, 2 * m, 5, 1);
        let mut mask = vec![0f32; 25];
        for (i, v) in mask.iter_mut().enumerate() {
            *v = if i < 12 { 1.0 } else { 0.0 };
        }
        let mask = Tensor::from_slice(&mask)
            .view([1, 1, 5, 5])
            .to_device(p.device());
        Self {
            checker,
            serial,
            mask,
        }
    }

    /// Checkerboard context for the non-anchor positions (zero at anchors).
    /// `y_anchor` must hold zeros at non-anchor positions.
    pub fn checkerboard(&self, y_anchor: &Tensor) -> Tensor {
        let (h, w) = (y_anchor.size()[2], y_anchor.size()[3]);
        let ctx = self.checker.forward(y_anchor, Precision::F32);
        ctx * (1.0 - anchor_mask(h, w, y_anchor.device()))
    }

    /// Serial context for every position at once (training and sanity checks).
    pub fn serial_all(&self, y: &Tensor) -> Tensor {
        let w = &self.serial.w * &self.mask;
        y.constant_pad_nd([2, 2, 2, 2])
            .conv2d(&w, Some(&self.serial.b), [1], [0], [1], 1)
    }

    /// The masked serial weights, computed once per frame.
    pub fn serial_weight(&self) -> Tensor {
        &self.serial.w * &self.mask
    }

    pub fn serial_conv(&self) -> &Conv {
        &self.serial
    }
}
