//! Analysis and synthesis transforms (g_a, g_s) and the hyperprior transforms (h_a, h_s).

use super::layers::{Attention, Conv, Crb, Precision, ResDown, ResUp, SubpelConv};
use tch::{Tensor, nn::Path};

/// g_a: image (3 channels) -> y (M channels) at 1/16 resolution.
#[derive(Debug)]
pub struct Analysis {
    rb1: ResDown,
    crb1: Crb,
    rb2: ResDown,
    crb2: Crb,
    attn1: Attention,
    rb3: ResDown,
    crb3: Crb,
    out: Conv,
    attn2: Attention,
}

impl Analysis {
    pub fn new(p: Path, n: i64, m: i64) -> Self {
        Self {
            rb1: ResDown::new(&p / "rb1", 3, n),
            crb1: Crb::new(&p / "crb1", n),
            rb2: ResDown::new(&p / "rb2", n, n),
            crb2: Crb::new(&p / "crb2", n),
            attn1: Attention::new(&p / "attn1", n),
            rb3: ResDown::new(&p / "rb3", n, n),
            crb3: Crb::new(&p / "crb3", n),
            out: Conv::new(&p / "out", n, m, 3, 2),
            attn2: Attention::new(&p / "attn2", m),
        }
    }

    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let x = prec.layout(x);
        let h = self.crb1.forward(&self.rb1.forward(&x, prec), prec);
        let h = self.crb2.forward(&self.rb2.forward(&h, prec), prec);
        let h = self.attn1.forward(&h, prec);
        let h = self.crb3.forward(&self.rb3.forward(&h, prec), prec);
        let h = self.out.forward(&h, prec);
        self.attn2.forward(&h, prec).to_kind(tch::Kind::Float)
    }
}

/// g_s: y_hat (M channels) -> image, mirroring g_a with sub-pixel upsampling.
#[derive(Debug)]
pub struct Synthesis {
    attn1: Attention,
    up1: ResUp,
    crb1: Crb,
    attn2: Attention,
    up2: ResUp,
    crb2: Crb,
    up3: ResUp,
    crb3: Crb,
    out: SubpelConv,
}

impl Synthesis {
    pub fn new(p: Path, n: i64, m: i64) -> Self {
        Self {
            attn1: Attention::new(&p / "attn1", m),
            up1: ResUp::new(&p / "up1", m, n),
            crb1: Crb::new(&p / "crb1", n),
            attn2: Attention::new(&p / "attn2", n),
            up2: ResUp::new(&p / "up2", n, n),
            crb2: Crb::new(&p / "crb2", n),
            up3: ResUp::new(&p / "up3", n, n),
            crb3: Crb::new(&p / "crb3", n),
            out: SubpelConv::new(&p / "out", n, 3, 3),
        }
    }

    pub fn forward(&self, y: &Tensor, prec: Precision) -> Tensor {
        let y = prec.layout(y);
        let h = self.attn1.forward(&y, prec);
        let h = self.crb1.forward(&self.up1.forward(&h, prec), prec);
        let h = self.attn2.forward(&h, prec);
        let h = self.crb2.forward(&self.up2.forward(&h, prec), prec);
        let h = self.crb3.forward(&self.up3.forward(&h, prec), prec);
        self.out.forward(&h, prec).to_kind(tch::Kind::Float)
    }
}

/// h_a: y -> z (3×3 convs, strides 1, 1, 2, 1, 2).
#[derive(Debug)]
pub struct HyperAnalysis([Conv; 5]);

impl HyperAnalysis {
    pub fn new(p: Path, m: i64, nz: i64) -> Self {
        let dims = [
            (m, nz, 1),
            (nz, nz, 1),
            (nz, nz, 2),
            (nz, nz, 1),
            (nz, nz, 2),
        ];
        Self(std::array::from_fn(|i| {
            let (a, b, s) = dims[i];
            Conv::new(&p / format!("c{}", i + 1), a, b, 3, s)
        }))
    }

    pub fn forward(&self, y: &Tensor) -> Tensor {
        let mut h = y.shallow_clone();
        for (i, c) in self.0.iter().enumerate() {
            h = c.forward(&h, Precision::F32);
            if i < 4 {
                h = h.leaky_relu();
            }
        }
        h
    }
}

/// h_s: z_hat -> hyper features (2M channels) at y's resolution. Always f32.
#[derive(Debug)]
pub struct HyperSynthesis {
    c1: Conv,
    up1: SubpelConv,
    c2: Conv,
    up2: SubpelConv,
    c3: Conv,
}

impl HyperSynthesis {
    pub fn new(p: Path, nz: i64, m: i64) -> Self {
        let m32 = m * 3 / 2;
        Self {
            c1: Conv::new(&p / "c1", nz, m, 3, 1),
            up1: SubpelConv::new(&p / "up1", m, m, 3),
            c2: Conv::new(&p / "c2", m, m32, 3, 1),
            up2: SubpelConv::new(&p / "up2", m32, m32, 3),
            c3: Conv::new(&p / "c3", m32, 2 * m, 3, 1),
        }
    }

    pub fn forward(&self, z: &Tensor) -> Tensor {
        let f = Precision::F32;
        let h = self.c1.forward(z, f).leaky_relu();
        let h = self.up1.forward(&h, f).leaky_relu();
        let h = self.c2.forward(&h, f).leaky_relu();
        let h = self.up2.forward(&h, f).leaky_relu();
        self.c3.forward(&h, f)
    }
}
