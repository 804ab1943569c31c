//! Encode/decode orchestration: image -> y, z -> bytes, and back.
//!
//! The transforms (g_a, h_a, g_s) may run on a GPU and in bf16. The parameter path
//! (h_s, context model, entropy parameters) always runs on the CPU in f32 with one
//! thread, and the encoder computes it exactly as the decoder will: from tensors
//! built the same way from the same integers.

use crate::entropy::factorized::FactorizedPrior;
use crate::entropy::mixture::{MixtureModel, QuantParams, RAW_PARAMS};
use crate::entropy::{self, Decoder, Encoder, VALUE_LIMIT};
use crate::format::{self, ContextMode, FrameHeader, SectionKind};
use crate::image::{self, Image};
use crate::model::weights;
use crate::model::{ModelConfig, Network, Precision, context, refine};
use crate::{Error, hex};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor, nn::VarStore};

/// Name of the model shipped under `models/`.
pub const DEFAULT_MODEL: &str = "gllmm-default";

/// Where the transforms run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA when available, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            _ => Err(format!("unknown device {s:?} (auto, cpu, cuda)")),
        }
    }
}

impl DeviceChoice {
    /// The libtorch device this choice means on this machine; CUDA asked for and
    /// absent is an error rather than a silent fall-back to the CPU.
    pub fn resolve(self) -> Result<Device, Error> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Auto => Ok(Device::cuda_if_available()),
            Self::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            Self::Cuda => Err(Error::Device(
                "CUDA requested but no CUDA device is available".into(),
            )),
        }
    }
}

/// How a [`Codec`] runs; fixed for its lifetime.
#[derive(Clone, Debug)]
pub struct CodecOptions {
    pub device: DeviceChoice,
    /// Threads for the transforms (0: libtorch's default).
    pub threads: usize,
    /// Precision of g_a and g_s. Encoder and decoder reconstructions agree bit for
    /// bit only when both use the same.
    pub precision: Precision,
    /// Largest picture (width × height) this codec encodes or decodes. Memory grows
    /// with the area, so a small forged header must not make us allocate gigabytes.
    pub max_pixels: u64,
}

/// Default [`CodecOptions::max_pixels`]: 40 megapixels.
pub const DEFAULT_MAX_PIXELS: u64 = 40_000_000;

impl Default for CodecOptions {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            threads: 0,
            precision: Precision::F32,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

#[derive(Clone, Debug)]
pub struct EncodeOptions {
    /// 0..=100, continuous; higher is better quality and more bits.
    pub quality: f64,
    pub context: ContextMode,
    /// Frame rate recorded in the frame header (num, den); (0, 1) for a still image.
    pub framerate: (u32, u32),
    /// Gradient steps spent refining the latents for this picture (0 = none, at most
    /// [`refine::MAX_ITERATIONS`]): fewer bits for the same quality, at the encoder's
    /// expense only; any decoder reads the result.
    pub refine: u32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            quality: 50.0,
            context: ContextMode::Checkerboard,
            framerate: (0, 1),
            refine: 0,
        }
    }
}

/// Where the last encode or decode spent its time (for `gllmm bench`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// g_a, latent refinement and h_a (encode) or g_s (decode), including moving data
    /// to and from the device.
    pub transforms_ms: f64,
    /// h_s, context model and entropy parameters.
    pub parameters_ms: f64,
    /// Parameter quantisation, CDFs and range coding.
    pub entropy_ms: f64,
}

/// A loaded model, ready to encode and decode.
pub struct Codec {
    timings: std::sync::Mutex<Timings>,
    /// Parameter-path copy: CPU, f32.
    cpu: Network,
    _cpu_vs: VarStore,
    /// Transform copy on the GPU, when one is used.
    gpu: Option<(Network, VarStore)>,
    prior: FactorizedPrior,
    name: String,
    hash: [u8; 16],
    metadata: HashMap<String, String>,
    options: CodecOptions,
}

/// Latents of one frame, as integers.
struct Latents {
    z: Vec<i32>,
    z_shape: [i64; 3],
    y: Vec<i32>,
    y_shape: [i64; 3],
}

impl Latents {
    fn checksum(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        for v in self.z.iter().chain(&self.y) {
            h.update(&v.to_le_bytes());
        }
        h.finalize()
    }
}

/// Codes one y symbol: the encoder writes the known value, the decoder reads it.
trait SymbolSink {
    fn code(&mut self, index: usize, q: &QuantParams) -> Result<i32, Error>;
}

struct EncodeSink<'a> {
    enc: Encoder,
    values: &'a [i32],
    /// Parameters and values in coding order, to check the coder afterwards.
    coded: Vec<(QuantParams, i32)>,
}

impl SymbolSink for EncodeSink<'_> {
    fn code(&mut self, index: usize, q: &QuantParams) -> Result<i32, Error> {
        let v = self.values[index];
        entropy::encode_symbol(&mut self.enc, &MixtureModel::new(q), v)?;
        self.coded.push((*q, v));
        Ok(v)
    }
}

struct DecodeSink<'a> {
    dec: Decoder<'a>,
}

impl SymbolSink for DecodeSink<'_> {
    fn code(&mut self, _index: usize, q: &QuantParams) -> Result<i32, Error> {
        let v = entropy::decode_symbol(&mut self.dec, &MixtureModel::new(q))?;
        self.dec.check()?;
        Ok(v)
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn ints_to_tensor(v: &[i32], shape: [i64; 3]) -> Tensor {
    Tensor::from_slice(v)
        .to_kind(Kind::Float)
        .view([1, shape[0], shape[1], shape[2]])
}

fn tensor_to_ints(t: &Tensor) -> Result<Vec<i32>, Error> {
    let t = t
        .to_device(Device::Cpu)
        .round()
        .clamp(-f64::from(VALUE_LIMIT), f64::from(VALUE_LIMIT))
        .to_kind(Kind::Int)
        .flatten(0, -1);
    Ok(Vec::<i32>::try_from(t)?)
}

fn tensor_to_f32(t: &Tensor) -> Result<Vec<f32>, Error> {
    Ok(Vec::<f32>::try_from(
        t.to_device(Device::Cpu).contiguous().flatten(0, -1),
    )?)
}

/// Restores libtorch's thread count when dropped.
struct Threads(i32);

impl Threads {
    fn set(n: usize) -> Self {
        let old = tch::get_num_threads();
        if n > 0 {
            tch::set_num_threads(n as i32);
        }
        Threads(old)
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        tch::set_num_threads(self.0);
    }
}

impl Codec {
    /// Loads a model from a safetensors file, or from a directory holding `model.safetensors`.
    pub fn load(path: &Path, options: &CodecOptions) -> Result<Self, Error> {
        let file = if path.is_dir() {
            path.join("model.safetensors")
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file)
            .map_err(|e| Error::Model(format!("cannot read {}: {e}", file.display())))?;
        let name = file
            .parent()
            .filter(|_| file.file_name().is_some_and(|n| n == "model.safetensors"))
            .and_then(|p| p.file_name())
            .or_else(|| file.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Self::from_bytes(&bytes, &name, options)
    }

    /// Loads a model by name (searching [`model_dirs`]) or by path.
    pub fn load_named(name_or_path: &str, options: &CodecOptions) -> Result<Self, Error> {
        let p = Path::new(name_or_path);
        if p.exists() {
            return Self::load(p, options);
        }
        for dir in model_dirs() {
            let cand = dir.join(name_or_path).join("model.safetensors");
            if cand.exists() {
                return Self::load(&cand, options);
            }
        }
        let searched: Vec<String> = model_dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        Err(Error::Model(format!(
            "model {name_or_path:?} not found (not a path, and not in {})",
            searched.join(", ")
        )))
    }

    /// Loads the shipped default model.
    pub fn load_default(options: &CodecOptions) -> Result<Self, Error> {
        Self::load_named(DEFAULT_MODEL, options)
    }

    /// Loads a model from the bytes of a weights file.
    pub fn from_bytes(bytes: &[u8], name: &str, options: &CodecOptions) -> Result<Self, Error> {
        let wf = weights::deserialize(bytes)?;
        let prior = wf.prior.ok_or_else(|| {
            Error::Model("weights have no frozen z prior; run `gllmm export` first".into())
        })?;
        if name.len() > format::MAX_NAME_LEN {
            return Err(Error::Model("model name longer than 64 bytes".into()));
        }
        let lock = crate::model::init_lock();
        let mut cpu_vs = VarStore::new(Device::Cpu);
        let cpu = Network::new(&cpu_vs.root(), &wf.config);
        drop(lock);
        weights::apply(&cpu_vs, &wf.tensors)?;
        // A codec never trains: refinement then differentiates in the latents alone.
        cpu_vs.freeze();
        let device = options.device.resolve()?;
        let gpu = if device != Device::Cpu {
            let lock = crate::model::init_lock();
            let mut vs = VarStore::new(device);
            let net = Network::new(&vs.root(), &wf.config);
            drop(lock);
            weights::apply(&vs, &wf.tensors)?;
            vs.freeze();
            Some((net, vs))
        } else {
            None
        };
        Ok(Self {
            timings: Default::default(),
            cpu,
            _cpu_vs: cpu_vs,
            gpu,
            prior,
            name: name.to_owned(),
            hash: wf.hash,
            metadata: wf.metadata,
            options: options.clone(),
        })
    }

    /// A randomly initialised model (seeded), frozen and round-tripped through its
    /// f16 file form exactly as a shipped model would be. For tests and benchmarks.
    pub fn random(config: &ModelConfig, seed: i64, options: &CodecOptions) -> Result<Self, Error> {
        let bytes = random_weights(config, seed)?;
        Self::from_bytes(&bytes, &format!("random-{seed}"), options)
    }

    /// Time split of the last encode or decode on this codec.
    pub fn last_timings(&self) -> Timings {
        *self.timings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, t: Timings) {
        *self.timings.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn hash(&self) -> [u8; 16] {
        self.hash
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cpu.config
    }

    /// The qualities that hit the model's trained λs exactly; qualities between
    /// them interpolate the gains and code a little less efficiently.
    pub fn anchor_qualities(&self) -> Vec<f64> {
        self.cpu.anchor_qualities()
    }

    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    pub fn device(&self) -> Device {
        self.gpu.as_ref().map_or(Device::Cpu, |(_, vs)| vs.device())
    }

    fn check_size(&self, width: u32, height: u32) -> Result<(), Error> {
        let px = u64::from(width) * u64::from(height);
        if px > self.options.max_pixels {
            return Err(Error::InvalidInput(format!(
                "{width}x{height} is {px} pixels, above this codec's limit of {} (CodecOptions::max_pixels)",
                self.options.max_pixels
            )));
        }
        Ok(())
    }

    fn check_input(&self, img: &Image, quality: f64) -> Result<(), Error> {
        img.validate()?;
        self.check_size(img.width, img.height)?;
        if !quality.is_finite() || !(0.0..=100.0).contains(&quality) {
            return Err(Error::InvalidInput(format!(
                "quality {quality} outside 0..=100"
            )));
        }
        Ok(())
    }

    /// The picture g_s makes of this picture's latents at `quality` left unrounded:
    /// what the transforms alone reach. Against the coded picture it tells how much
    /// quality quantisation costs and how much the transforms cannot give.
    pub fn unquantised(&self, img: &Image, quality: f64) -> Result<Image, Error> {
        Ok(self.unquantised_at(img, &[quality])?.remove(0))
    }

    /// [`Codec::unquantised`] at several qualities, running the analysis once: the
    /// quality only scales its output.
    pub fn unquantised_at(&self, img: &Image, qualities: &[f64]) -> Result<Vec<Image>, Error> {
        for &q in qualities {
            self.check_input(img, q)?;
        }
        let _g = tch::no_grad_guard();
        let _t = Threads::set(self.options.threads);
        let net = self.transforms();
        let x = image::to_tensor(img).to_device(self.device());
        let y = net.g_a.forward(&x, self.options.precision);
        qualities
            .iter()
            .map(|&quality| {
                // As coded: the frame header holds the quality as f32.
                let q = f64::from(quality as f32);
                let x_hat = net.g_s.forward(
                    &(&y * net.gain(q) * net.inv_gain(q)),
                    self.options.precision,
                );
                image::from_tensor(&x_hat, img.width, img.height, img.layout)
            })
            .collect()
    }

    fn transforms(&self) -> &Network {
        self.gpu.as_ref().map_or(&self.cpu, |(n, _)| n)
    }

    /// Encodes one picture into one frame.
    pub fn encode(&self, img: &Image, opts: &EncodeOptions) -> Result<Vec<u8>, Error> {
        self.encode_inner(img, opts, false).map(|(b, _)| b)
    }

    /// Encodes and also returns the picture the decoder will reconstruct.
    pub fn encode_and_reconstruct(
        &self,
        img: &Image,
        opts: &EncodeOptions,
    ) -> Result<(Vec<u8>, Image), Error> {
        self.encode_inner(img, opts, true)
            .map(|(b, r)| (b, r.expect("reconstruction requested")))
    }

    fn encode_inner(
        &self,
        img: &Image,
        opts: &EncodeOptions,
        reconstruct: bool,
    ) -> Result<(Vec<u8>, Option<Image>), Error> {
        self.check_input(img, opts.quality)?;
        if opts.refine > refine::MAX_ITERATIONS {
            return Err(Error::InvalidInput(format!(
                "{} refinement steps requested, at most {} allowed",
                opts.refine,
                refine::MAX_ITERATIONS
            )));
        }
        let pixels = u64::from(img.width) * u64::from(img.height);
        if opts.refine > 0 && pixels > refine::MAX_PIXELS {
            return Err(Error::InvalidInput(format!(
                "latent refinement is limited to {} pixels (its memory grows with the area); \
                 this picture has {pixels}: encode it with refine 0",
                refine::MAX_PIXELS
            )));
        }
        let _g = tch::no_grad_guard();
        let quality = opts.quality as f32;
        let q = f64::from(quality);
        let mut timings = Timings::default();
        let t0 = Instant::now();
        let (y, z) = {
            let _t = Threads::set(self.options.threads);
            let net = self.transforms();
            let x = image::to_tensor(img).to_device(self.device());
            let mut y = net.g_a.forward(&x, self.options.precision) * net.gain(q);
            if opts.refine > 0 {
                let settings = refine::Settings {
                    quality: q,
                    context: opts.context,
                    precision: self.options.precision,
                    iterations: opts.refine,
                };
                let size = (i64::from(img.height), i64::from(img.width));
                y = refine::refine(net, &x, size, &y, settings).0;
            }
            let z = net.h_a.forward(&y);
            (y, z)
        };
        let ys = y.size();
        let zs = z.size();
        let mut lat = Latents {
            z: tensor_to_ints(&z)?,
            z_shape: [zs[1], zs[2], zs[3]],
            y: tensor_to_ints(&y)?,
            y_shape: [ys[1], ys[2], ys[3]],
        };
        timings.transforms_ms = ms(t0);
        let t0 = Instant::now();
        // Parameter path: CPU, f32, one thread, the decoder's exact procedure.
        let _t = Threads::set(1);
        let mut zenc = Encoder::new();
        self.code_z(&lat, |ch, v| {
            entropy::encode_symbol(&mut zenc, &self.prior.channels[ch], v).map(|_| v)
        })?;
        let z_bytes = zenc.finish();
        let th = Instant::now();
        let hyper = self.cpu.h_s.forward(&ints_to_tensor(&lat.z, lat.z_shape));
        timings.parameters_ms += ms(th);
        let mut sink = EncodeSink {
            enc: Encoder::new(),
            values: &lat.y,
            coded: Vec::with_capacity(lat.y.len()),
        };
        let coded = self.code_y(&hyper, opts.context, lat.y_shape, &mut sink, &mut timings)?;
        let check = std::mem::take(&mut sink.coded);
        let y_bytes = sink.enc.finish();
        // Check the coder: the decoder must read back exactly these latents.
        let mut dec = Decoder::new(&y_bytes);
        for (q, v) in &check {
            if entropy::decode_symbol(&mut dec, &MixtureModel::new(q))? != *v {
                return Err(Error::LatentMismatch);
            }
        }
        lat.y = coded;
        let header = FrameHeader {
            colour: img.layout,
            context: opts.context,
            quality,
            width: img.width,
            height: img.height,
            fps_n: opts.framerate.0,
            fps_d: opts.framerate.1,
            latent_crc: lat.checksum(),
            model_hash: self.hash,
            model_name: self.name.clone(),
            sections: vec![],
        };
        let bytes = format::write_frame(
            &header,
            &[(SectionKind::Z, &z_bytes), (SectionKind::Y, &y_bytes)],
        )?;
        timings.entropy_ms = ms(t0) - timings.parameters_ms;
        self.record(timings);
        drop(_t);
        let recon = if reconstruct {
            Some(self.synthesize(&lat, &header)?)
        } else {
            None
        };
        Ok((bytes, recon))
    }

    /// Decodes one frame (the first in `data`; trailing bytes are ignored).
    pub fn decode(&self, data: &[u8]) -> Result<Image, Error> {
        let (frame, _) = format::read_frame(data)?;
        let h = &frame.header;
        self.check_size(h.width, h.height)?;
        if h.model_hash != self.hash {
            return Err(Error::ModelMismatch {
                stream_name: h.model_name.clone(),
                stream_hash: hex(&h.model_hash),
                model_name: self.name.clone(),
                model_hash: hex(&self.hash),
            });
        }
        let _g = tch::no_grad_guard();
        let (hp, wp) = (image::padded(h.height), image::padded(h.width));
        let m = self.cpu.config.m;
        let nz = self.cpu.config.nz;
        let z_shape = [nz, hp / 64, wp / 64];
        let y_shape = [m, hp / 16, wp / 16];
        let mut lat = Latents {
            z: vec![0; (z_shape[0] * z_shape[1] * z_shape[2]) as usize],
            z_shape,
            y: Vec::new(),
            y_shape,
        };
        let z_data = frame
            .section(SectionKind::Z)
            .ok_or(Error::Format(format::FormatError::Invalid("no z section")))?;
        let y_data = frame
            .section(SectionKind::Y)
            .ok_or(Error::Format(format::FormatError::Invalid("no y section")))?;
        let _t = Threads::set(1);
        let mut timings = Timings::default();
        let t0 = Instant::now();
        let mut zdec = Decoder::new(z_data);
        let mut z = std::mem::take(&mut lat.z);
        let mut k = 0;
        self.code_z(&lat, |ch, _| {
            let v = entropy::decode_symbol(&mut zdec, &self.prior.channels[ch])?;
            zdec.check()?;
            z[k] = v;
            k += 1;
            Ok(v)
        })?;
        zdec.finish()?;
        lat.z = z;
        let th = Instant::now();
        let hyper = self.cpu.h_s.forward(&ints_to_tensor(&lat.z, lat.z_shape));
        timings.parameters_ms += ms(th);
        let mut sink = DecodeSink {
            dec: Decoder::new(y_data),
        };
        lat.y = self.code_y(&hyper, h.context, y_shape, &mut sink, &mut timings)?;
        sink.dec.finish()?;
        if lat.checksum() != h.latent_crc {
            return Err(Error::LatentMismatch);
        }
        timings.entropy_ms = ms(t0) - timings.parameters_ms;
        drop(_t);
        let t0 = Instant::now();
        let img = self.synthesize(&lat, h)?;
        timings.transforms_ms = ms(t0);
        self.record(timings);
        Ok(img)
    }

    fn synthesize(&self, lat: &Latents, h: &FrameHeader) -> Result<Image, Error> {
        let _t = Threads::set(self.options.threads);
        let net = self.transforms();
        let y = ints_to_tensor(&lat.y, lat.y_shape).to_device(self.device())
            * net.inv_gain(f64::from(h.quality));
        let x = net.g_s.forward(&y, self.options.precision);
        image::from_tensor(&x, h.width, h.height, h.colour)
    }

    /// Visits z in channel-major order.
    fn code_z(
        &self,
        lat: &Latents,
        mut f: impl FnMut(usize, i32) -> Result<i32, entropy::EntropyError>,
    ) -> Result<(), Error> {
        let [c, h, w] = lat.z_shape;
        if c as usize != self.prior.channels.len() {
            return Err(Error::Model(
                "z channel count differs from the prior's".into(),
            ));
        }
        let per = (h * w) as usize;
        for i in 0..(c * h * w) as usize {
            f(i / per, lat.z.get(i).copied().unwrap_or(0))?;
        }
        Ok(())
    }

    /// Runs the y context passes, coding every symbol through `sink`; returns y_hat.
    fn code_y(
        &self,
        hyper: &Tensor,
        mode: ContextMode,
        shape: [i64; 3],
        sink: &mut dyn SymbolSink,
        timings: &mut Timings,
    ) -> Result<Vec<i32>, Error> {
        let [m, h, w] = shape;
        let (mu, hu, wu) = (m as usize, h as usize, w as usize);
        let mut y = vec![0i32; mu * hu * wu];
        let ep = &self.cpu.entropy_parameters;
        let gather = |raw: &[f32], stride: usize, pos: usize, c: usize| -> QuantParams {
            let mut p = [0f32; RAW_PARAMS];
            for (k, v) in p.iter_mut().enumerate() {
                *v = raw[(c * RAW_PARAMS + k) * stride + pos];
            }
            QuantParams::from_raw(&p)
        };
        match mode {
            ContextMode::Checkerboard => {
                for pass in 0..2 {
                    let t0 = Instant::now();
                    let ctx = if pass == 0 {
                        Tensor::zeros([1, 2 * m, h, w], (Kind::Float, Device::Cpu))
                    } else {
                        self.cpu.context.checkerboard(&ints_to_tensor(&y, shape))
                    };
                    let raw = tensor_to_f32(&ep.forward(hyper, &ctx))?;
                    timings.parameters_ms += ms(t0);
                    for c in 0..mu {
                        for i in 0..hu {
                            for j in 0..wu {
                                if context::is_anchor(i as i64, j as i64) != (pass == 0) {
                                    continue;
                                }
                                let idx = (c * hu + i) * wu + j;
                                y[idx] = sink.code(idx, &gather(&raw, hu * wu, i * wu + j, c))?;
                            }
                        }
                    }
                }
            }
            ContextMode::Serial => {
                let weight = self.cpu.context.serial_weight();
                let conv = self.cpu.context.serial_conv();
                let ypad = Tensor::zeros([1, m, h + 4, w + 4], (Kind::Float, Device::Cpu));
                let mut vals = vec![0i32; mu];
                for i in 0..hu {
                    for j in 0..wu {
                        let t0 = Instant::now();
                        let patch = ypad.narrow(2, i as i64, 5).narrow(3, j as i64, 5);
                        let ctx = conv.forward_valid(&patch, &weight);
                        let hyp = hyper.narrow(2, i as i64, 1).narrow(3, j as i64, 1);
                        let raw = tensor_to_f32(&ep.forward(&hyp, &ctx))?;
                        timings.parameters_ms += ms(t0);
                        for (c, v) in vals.iter_mut().enumerate() {
                            let idx = (c * hu + i) * wu + j;
                            *v = sink.code(idx, &gather(&raw, 1, 0, c))?;
                            y[idx] = *v;
                        }
                        let t0 = Instant::now();
                        let col = ints_to_tensor(&vals, [m, 1, 1]);
                        ypad.narrow(2, i as i64 + 2, 1)
                            .narrow(3, j as i64 + 2, 1)
                            .copy_(&col);
                        timings.parameters_ms += ms(t0);
                    }
                }
            }
        }
        Ok(y)
    }
}

/// Serialised f16 weights of a seeded random model with its prior frozen.
pub fn random_weights(config: &ModelConfig, seed: i64) -> Result<Vec<u8>, Error> {
    config.validate().map_err(Error::Model)?;
    let _lock = crate::model::init_lock();
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), config);
    weights::serialize_shipped(&vs, &net, &HashMap::new())
}

/// Directories searched for named models, in order: `$GLLMM_MODEL_DIR`, the
/// installed data directory, and the source tree's `models/`.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(d) = std::env::var_os("GLLMM_MODEL_DIR") {
        v.push(PathBuf::from(d));
    }
    if let Some(d) = option_env!("GLLMM_INSTALLED_MODEL_DIR") {
        v.push(PathBuf::from(d));
    }
    v.push(PathBuf::from("/usr/local/share/gllmm/models"));
    v.push(PathBuf::from("/usr/share/gllmm/models"));
    v.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models"
    )));
    v
}
