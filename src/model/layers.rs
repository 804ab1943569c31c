//! Building blocks: convolutions (optionally computed in bf16), GDN/IGDN, residual
//! units, Cheng's simplified attention, the concatenated residual block, sub-pixel
//! upsampling.

use std::time::{Duration, Instant};

use tch::{Device, Kind, Tensor, nn::Init, nn::Path};

/// Whether a layer runs its convolutions in bf16 (f32 master weights; autograd
/// flows through the casts). The parameter path always passes `F32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    Bf16,
}

impl Precision {
    /// The faster precision to train in on `device`: bf16 on CUDA; on x86-64 CPUs with
    /// AVX512-BF16, whichever a short probe finds faster, since those differ (bf16 trained
    /// 1.5x faster than f32 on a Xeon with AMX, 1.1x slower on one whose guest showed
    /// AVX512-BF16 without AMX); f32 elsewhere, since emulated bf16 convolutions ran about
    /// 8x slower than f32 on an AVX2-only CPU.
    pub fn fastest_on(device: Device) -> Self {
        match device {
            Device::Cuda(_) => Precision::Bf16,
            _ if cpu_has_bf16() => {
                let [f32, bf16] = probe_cpu();
                if bf16 < f32 {
                    Precision::Bf16
                } else {
                    Precision::F32
                }
            }
            _ => Precision::F32,
        }
    }

    /// `x` in the strides this precision's convolutions run fastest on: channels_last
    /// (NHWC) for oneDNN's bf16 convolutions, whose outputs keep it; as given for f32.
    pub fn layout(self, x: &Tensor) -> Tensor {
        match self {
            Precision::F32 => x.shallow_clone(),
            Precision::Bf16 => x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]),
        }
    }

    fn kind(self) -> Kind {
        match self {
            Precision::F32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_bf16() -> bool {
    std::arch::is_x86_feature_detected!("avx512bf16")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_bf16() -> bool {
    false
}

/// Best-of-three time of a training pass (forward and backward) through an N = 64
/// concatenated residual block on a batch of four 256² crops at quarter scale, in f32
/// and in bf16, each in its layout (`Precision::layout`), as the transforms feed it.
fn probe_cpu() -> [Duration; 2] {
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let block = Crb::new(vs.root(), 64);
    let x = Tensor::randn([4, 64, 64, 64], (Kind::Float, Device::Cpu));
    [Precision::F32, Precision::Bf16].map(|prec| {
        let x = prec.layout(&x);
        (0..4)
            .map(|_| {
                let t0 = Instant::now();
                let y = block.forward(&x, prec).to_kind(Kind::Float);
                y.square().mean(Kind::Float).backward();
                t0.elapsed()
            })
            .skip(1)
            .min()
            .unwrap_or_default()
    })
}

fn cast(x: &Tensor, k: Kind) -> Tensor {
    if x.kind() == k {
        x.shallow_clone()
    } else {
        x.to_kind(k)
    }
}

/// 2-D convolution with PyTorch's default (kaiming-uniform, a=√5) initialisation.
#[derive(Debug)]
pub struct Conv {
    pub w: Tensor,
    pub b: Tensor,
    stride: i64,
    pad: i64,
}

impl Conv {
    pub fn new(p: Path, cin: i64, cout: i64, k: i64, stride: i64) -> Self {
        let bound = 1.0 / ((cin * k * k) as f64).sqrt();
        let u = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        Self {
            w: p.var("weight", &[cout, cin, k, k], u),
            b: p.var("bias", &[cout], u),
            stride,
            pad: k / 2,
        }
    }

    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let k = prec.kind();
        let (w, b) = (cast(&self.w, k), cast(&self.b, k));
        cast(x, k).conv2d(&w, Some(&b), [self.stride], [self.pad], [1], 1)
    }

    /// Applies the convolution without padding to an already padded input.
    pub fn forward_valid(&self, x: &Tensor, w: &Tensor) -> Tensor {
        x.conv2d(w, Some(&self.b), [1], [0], [1], 1)
    }
}

/// Stride-2 1×1 convolution as subsampling plus a 1×1 convolution: the same maths,
/// and it avoids a libtorch crash in the backward pass of channels_last 1×1/2 convs.
#[derive(Debug)]
pub struct Down1x1(Conv);

impl Down1x1 {
    pub fn new(p: Path, cin: i64, cout: i64) -> Self {
        Self(Conv::new(p, cin, cout, 1, 1))
    }
    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let s = x.slice(2, 0, None, 2).slice(3, 0, None, 2);
        self.0.forward(&s, prec)
    }
}

/// Sub-pixel convolution: conv to `cout·r²` channels, then depth-to-space.
#[derive(Debug)]
pub struct SubpelConv(Conv);

impl SubpelConv {
    pub fn new(p: Path, cin: i64, cout: i64, k: i64) -> Self {
        Self(Conv::new(p, cin, cout * 4, k, 1))
    }
    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        self.0.forward(x, prec).pixel_shuffle(2)
    }
}

/// Generalised divisive normalisation (Ballé et al.), or its inverse. Computed in f32.
#[derive(Debug)]
pub struct Gdn {
    beta: Tensor,
    gamma: Tensor,
    inverse: bool,
}

impl Gdn {
    pub fn new(p: Path, c: i64, inverse: bool) -> Self {
        let beta = p.var("beta", &[c], Init::Const(1.0));
        let gamma = p.var("gamma", &[c, c, 1, 1], Init::Const(0.0));
        tch::no_grad(|| {
            let eye = Tensor::eye(c, (Kind::Float, gamma.device())).view([c, c, 1, 1]);
            gamma.shallow_clone().copy_(&(eye * 0.1f64.sqrt()));
        });
        Self {
            beta,
            gamma,
            inverse,
        }
    }

    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let x32 = x.to_kind(Kind::Float);
        // Non-negative reparametrisation: squares plus a floor keep the norm positive.
        let beta = self.beta.square() + 1e-6;
        let gamma = self.gamma.square();
        let norm = (&x32 * &x32)
            .conv2d(&gamma, Some(&beta), [1], [0], [1], 1)
            .sqrt();
        let y = if self.inverse { x32 * norm } else { x32 / norm };
        cast(&y, prec.kind())
    }
}

/// Residual unit of the attention module: 1×1 (C/2), 3×3 (C/2), 1×1 (C), ReLU.
#[derive(Debug)]
struct ResUnit(Conv, Conv, Conv);

impl ResUnit {
    fn new(p: Path, c: i64) -> Self {
        Self(
            Conv::new(&p / "c1", c, c / 2, 1, 1),
            Conv::new(&p / "c2", c / 2, c / 2, 3, 1),
            Conv::new(&p / "c3", c / 2, c, 1, 1),
        )
    }
    fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let h = self.0.forward(x, prec).relu();
        let h = self.1.forward(&h, prec).relu();
        (cast(x, prec.kind()) + self.2.forward(&h, prec)).relu()
    }
}

/// Cheng et al.'s simplified attention: `x + trunk(x) · sigmoid(mask(x))`.
#[derive(Debug)]
pub struct Attention {
    trunk: Vec<ResUnit>,
    mask: Vec<ResUnit>,
    mask_out: Conv,
}

impl Attention {
    pub fn new(p: Path, c: i64) -> Self {
        Self {
            trunk: (0..3)
                .map(|i| ResUnit::new(&p / format!("trunk{i}"), c))
                .collect(),
            mask: (0..3)
                .map(|i| ResUnit::new(&p / format!("mask{i}"), c))
                .collect(),
            mask_out: Conv::new(&p / "mask_out", c, c, 1, 1),
        }
    }

    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let mut a = cast(x, prec.kind());
        for u in &self.trunk {
            a = u.forward(&a, prec);
        }
        let mut b = cast(x, prec.kind());
        for u in &self.mask {
            b = u.forward(&b, prec);
        }
        let b = self.mask_out.forward(&b, prec).sigmoid();
        cast(x, prec.kind()) + a * b
    }
}

/// Concatenated residual block (Fu et al.): `t = x + c2(c1(x)); u = t + c4(c3(t)); x + u`.
#[derive(Debug)]
pub struct Crb([Conv; 4]);

impl Crb {
    pub fn new(p: Path, c: i64) -> Self {
        Self(std::array::from_fn(|i| {
            Conv::new(&p / format!("c{}", i + 1), c, c, 3, 1)
        }))
    }

    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let x = cast(x, prec.kind());
        let [c1, c2, c3, c4] = &self.0;
        let t = &x
            + c2.forward(&c1.forward(&x, prec).leaky_relu(), prec)
                .leaky_relu();
        let u = &t
            + c4.forward(&c3.forward(&t, prec).leaky_relu(), prec)
                .leaky_relu();
        x + u
    }
}

/// Stride-2 residual block: conv3×3/2, LeakyReLU, conv3×3, GDN; skip 1×1/2.
#[derive(Debug)]
pub struct ResDown {
    c1: Conv,
    c2: Conv,
    gdn: Gdn,
    skip: Down1x1,
}

impl ResDown {
    pub fn new(p: Path, cin: i64, cout: i64) -> Self {
        Self {
            c1: Conv::new(&p / "c1", cin, cout, 3, 2),
            c2: Conv::new(&p / "c2", cout, cout, 3, 1),
            gdn: Gdn::new(&p / "gdn", cout, false),
            skip: Down1x1::new(&p / "skip", cin, cout),
        }
    }
    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let h = self.c1.forward(x, prec).leaky_relu();
        let h = self.gdn.forward(&self.c2.forward(&h, prec), prec);
        h + self.skip.forward(x, prec)
    }
}

/// Upsampling residual block: subpel conv, LeakyReLU, conv3×3, IGDN; skip subpel conv.
#[derive(Debug)]
pub struct ResUp {
    c1: SubpelConv,
    c2: Conv,
    igdn: Gdn,
    skip: SubpelConv,
}

impl ResUp {
    pub fn new(p: Path, cin: i64, cout: i64) -> Self {
        Self {
            c1: SubpelConv::new(&p / "c1", cin, cout, 3),
            c2: Conv::new(&p / "c2", cout, cout, 3, 1),
            igdn: Gdn::new(&p / "igdn", cout, true),
            skip: SubpelConv::new(&p / "skip", cin, cout, 1),
        }
    }
    pub fn forward(&self, x: &Tensor, prec: Precision) -> Tensor {
        let h = self.c1.forward(x, prec).leaky_relu();
        let h = self.igdn.forward(&self.c2.forward(&h, prec), prec);
        h + self.skip.forward(x, prec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_trains_in_bf16() {
        assert_eq!(Precision::fastest_on(Device::Cuda(0)), Precision::Bf16);
    }

    #[test]
    fn cpu_without_native_bf16_trains_in_f32() {
        if !cpu_has_bf16() {
            assert_eq!(Precision::fastest_on(Device::Cpu), Precision::F32);
        }
    }

    #[test]
    fn probe_times_both_precisions() {
        let times = probe_cpu();
        assert!(times.iter().all(|t| *t > Duration::ZERO), "{times:?}");
    }
}
