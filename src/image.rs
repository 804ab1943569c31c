//! 8-bit pictures and their conversion to and from padded f32 tensors.

use crate::format::{ColourLayout, MAX_DIMENSION};
use crate::{Error, model::PAD_MULTIPLE};
use tch::{Kind, Tensor};

/// An 8-bit picture, rows top to bottom, interleaved channels (3 for RGB, 1 for gray).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub layout: ColourLayout,
    pub data: Vec<u8>,
}

impl Image {
    pub fn new(
        width: u32,
        height: u32,
        layout: ColourLayout,
        data: Vec<u8>,
    ) -> Result<Self, Error> {
        let img = Self {
            width,
            height,
            layout,
            data,
        };
        img.validate()?;
        Ok(img)
    }

    /// Checks the size limits and that the buffer holds exactly the pixels.
    pub fn validate(&self) -> Result<(), Error> {
        let (width, height, layout) = (self.width, self.height, self.layout);
        if !(1..=MAX_DIMENSION).contains(&width) || !(1..=MAX_DIMENSION).contains(&height) {
            return Err(Error::InvalidInput(format!(
                "image size {width}x{height} outside 1..={MAX_DIMENSION}"
            )));
        }
        let need = width as usize * height as usize * layout.channels();
        if self.data.len() != need {
            return Err(Error::InvalidInput(format!(
                "pixel buffer holds {} bytes, {width}x{height} {layout:?} needs {need}",
                self.data.len()
            )));
        }
        Ok(())
    }

    pub fn new_rgb(width: u32, height: u32, data: Vec<u8>) -> Result<Self, Error> {
        Self::new(width, height, ColourLayout::Rgb, data)
    }

    pub fn new_gray(width: u32, height: u32, data: Vec<u8>) -> Result<Self, Error> {
        Self::new(width, height, ColourLayout::Gray, data)
    }

    /// Always-RGB copy of the pixels (gray replicated).
    pub fn to_rgb(&self) -> Vec<u8> {
        match self.layout {
            ColourLayout::Rgb => self.data.clone(),
            ColourLayout::Gray => self.data.iter().flat_map(|&g| [g, g, g]).collect(),
        }
    }
}

impl ColourLayout {
    pub fn channels(self) -> usize {
        match self {
            ColourLayout::Rgb => 3,
            ColourLayout::Gray => 1,
        }
    }
}

/// Padded size: the next multiple of [`PAD_MULTIPLE`].
pub fn padded(v: u32) -> i64 {
    (i64::from(v) + PAD_MULTIPLE - 1) / PAD_MULTIPLE * PAD_MULTIPLE
}

/// `[1, 3, H', W']` in 0..1, padded by edge replication to the network's multiple.
pub fn to_tensor(img: &Image) -> Tensor {
    let (w, h) = (i64::from(img.width), i64::from(img.height));
    let rgb = img.to_rgb();
    let t = Tensor::from_slice(&rgb)
        .view([h, w, 3])
        .permute([2, 0, 1])
        .to_kind(Kind::Float)
        .unsqueeze(0)
        / 255.0;
    let (ph, pw) = (padded(img.height) - h, padded(img.width) - w);
    if ph == 0 && pw == 0 {
        return t.contiguous();
    }
    // Replication padding in steps no larger than the input, so 1-pixel images work too.
    let mut t = t;
    while t.size()[2] < h + ph || t.size()[3] < w + pw {
        let s = t.size();
        let dh = (h + ph - s[2]).min(s[2]);
        let dw = (w + pw - s[3]).min(s[3]);
        t = t.replication_pad2d([0, dw, 0, dh]);
    }
    t.contiguous()
}

/// Crops, clamps and rounds a `[1, 3, H', W']` reconstruction back to 8 bits.
pub fn from_tensor(
    t: &Tensor,
    width: u32,
    height: u32,
    layout: ColourLayout,
) -> Result<Image, Error> {
    let (w, h) = (i64::from(width), i64::from(height));
    let t = t
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .narrow(2, 0, h)
        .narrow(3, 0, w)
        .squeeze_dim(0);
    let t = match layout {
        ColourLayout::Rgb => t.permute([1, 2, 0]),
        ColourLayout::Gray => t
            .mean_dim([0i64].as_slice(), true, Kind::Float)
            .permute([1, 2, 0]),
    };
    let t = (t.clamp(0.0, 1.0) * 255.0)
        .round()
        .to_kind(Kind::Uint8)
        .contiguous();
    let mut data = vec![0u8; (w * h) as usize * layout.channels()];
    let n = data.len();
    t.copy_data(&mut data, n);
    Image::new(width, height, layout, data)
}
