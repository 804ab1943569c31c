//! The training loop, its checkpoints (atomic, resumable to the same state) and
//! the export of a checkpoint into a shipped model.

use super::data;
use super::optim::Adam;
use crate::format::ContextMode;
use crate::model::weights::{self, Storage};
use crate::model::{
    GAIN_TABLES, ModelConfig, Network, PAD_MULTIPLE, Precision, bits_per_pixel, retarget_gain_table,
};
use crate::{Codec, CodecOptions, DeviceChoice, EncodeOptions, Error, image::Image, metrics};
use indicatif::{ProgressBar, ProgressStyle};
use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::{Device, Kind, Tensor, nn::VarStore};

#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub data: PathBuf,
    /// Run directory: checkpoints and logs.
    pub run_dir: PathBuf,
    pub config: ModelConfig,
    pub batch: usize,
    pub crop: usize,
    pub lr: f64,
    /// Total steps of the run; the learning rate drops 10x for the last 10 %.
    pub steps: i64,
    /// Precision of the transforms; `None`: the device's fastest (`Precision::fastest_on`).
    pub precision: Option<Precision>,
    /// Where the network trains; the data loader and validation's coding stay on the CPU.
    pub device: DeviceChoice,
    pub threads: usize,
    pub checkpoint_secs: u64,
    /// Fraction of batches trained with the serial context (the rest checkerboard).
    pub serial_fraction: f64,
    pub seed: u64,
    /// Images for periodic validation with real coding.
    pub val_dir: Option<PathBuf>,
    pub val_images: usize,
    pub val_every: i64,
    /// Start from these weights when there is no checkpoint yet.
    pub init: Option<PathBuf>,
    /// λ set to train for, when not the model's own: the gains of a resumed or
    /// initial model are re-targeted to it (`retarget_gain_table`).
    pub lambdas: Option<Vec<f64>>,
    /// Relative frequency of each λ in the batches (uniform when `None`): a stretch
    /// weighted to the high λs spends the shared transforms' capacity on the top rates.
    pub lambda_weights: Option<Vec<f64>>,
    /// How this stretch's data is named in the checkpoint's history (default: `data`'s
    /// path), for data that travels as a copy, like a subset packed for a GPU machine.
    pub data_note: Option<String>,
}

/// One stretch of a run: what trained the weights from step `from` to `to`. The
/// checkpoint carries the whole list (metadata `history`), and so do its exports
/// and the runs started from them, so a shipped model says what made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stretch {
    pub from: i64,
    pub to: i64,
    pub hours: f64,
    pub data: String,
    /// `None` where the weights predate the history: only their last stretch's
    /// settings were kept, so none are claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<StretchSettings>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StretchSettings {
    pub device: String,
    pub batch: usize,
    pub crop: usize,
    pub lr: f64,
    pub precision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_weights: Option<Vec<f64>>,
}

/// The history in weights' metadata. Weights from before it was kept get one
/// stretch from step 0 without settings, whose data says that only the last
/// stretch's was recorded.
pub fn history(meta: &HashMap<String, String>) -> Result<Vec<Stretch>, Error> {
    if let Some(h) = meta.get("history") {
        return serde_json::from_str(h)
            .map_err(|e| Error::Model(format!("the weights' training history is malformed: {e}")));
    }
    let step = meta_number(meta, "step").unwrap_or(0);
    Ok(if step > 0 {
        vec![Stretch {
            from: 0,
            to: step,
            hours: meta_number::<f64>(meta, "elapsed_s").unwrap_or(0.0) / 3600.0,
            data: format!(
                "unrecorded (the last stretch used {})",
                meta.get("data").map_or("?", String::as_str)
            ),
            settings: None,
        }]
    } else {
        vec![]
    })
}

pub struct Trainer {
    pub opts: TrainOptions,
    pub vs: VarStore,
    pub net: Network,
    pub adam: Adam,
    /// What the transforms train in: `opts.precision`, or the device's fastest.
    pub precision: Precision,
    pub elapsed_s: f64,
    rng: StdRng,
    lambda_draw: Option<WeightedIndex<f64>>,
    /// The stretches before this one, and where this one began (step, seconds).
    history: Vec<Stretch>,
    start: (i64, f64),
}

/// The λ draw for `weights`: one non-negative weight per λ, not all zero.
fn lambda_distribution(weights: &[f64], lambdas: usize) -> Result<WeightedIndex<f64>, Error> {
    if weights.len() != lambdas {
        return Err(Error::InvalidInput(format!(
            "{} λ weights for {lambdas} λs",
            weights.len()
        )));
    }
    if let Some(w) = weights.iter().find(|w| !w.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "λ weights: {w} is not a finite number"
        )));
    }
    WeightedIndex::new(weights)
        .map_err(|e| Error::InvalidInput(format!("λ weights {weights:?}: {e}")))
}

const CHECKPOINT: &str = "checkpoint.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

impl Trainer {
    /// Creates a trainer, resuming from the run directory's checkpoint when there is one.
    pub fn new(opts: TrainOptions) -> Result<Self, Error> {
        if opts.batch == 0 {
            return Err(Error::InvalidInput("a batch of 0 pictures".into()));
        }
        if opts.crop == 0 || opts.crop as i64 % PAD_MULTIPLE != 0 {
            return Err(Error::InvalidInput(format!(
                "crop {} is not a positive multiple of {PAD_MULTIPLE}, the network's total stride",
                opts.crop
            )));
        }
        std::fs::create_dir_all(&opts.run_dir)?;
        let ckpt = opts.run_dir.join(CHECKPOINT);
        let mut opts = opts;
        let resumed = ckpt.exists();
        let mut start = if resumed {
            Some(weights::deserialize(&std::fs::read(&ckpt)?)?)
        } else if let Some(init) = &opts.init {
            Some(weights::deserialize(&std::fs::read(init)?)?)
        } else {
            None
        };
        let trained = start.as_ref().map(|wf| wf.config.lambdas.clone());
        if let Some(wf) = &start {
            opts.config = wf.config.clone();
        }
        if let Some(l) = &opts.lambdas {
            opts.config.lambdas = l.clone();
        }
        opts.config.validate().map_err(Error::Model)?;
        let lambda_draw = opts
            .lambda_weights
            .as_ref()
            .map(|w| lambda_distribution(w, opts.config.lambdas.len()))
            .transpose()?;
        let retargeted = trained.as_ref().is_some_and(|t| *t != opts.config.lambdas);
        if let (Some(wf), Some(from), true) = (&mut start, &trained, retargeted) {
            for name in GAIN_TABLES {
                if let Some(t) = wf.tensors.get_mut(name) {
                    *t = retarget_gain_table(t, from, &opts.config.lambdas);
                }
            }
        }
        let device = opts.device.resolve()?;
        let precision = opts
            .precision
            .unwrap_or_else(|| Precision::fastest_on(device));
        tch::manual_seed(opts.seed as i64);
        let vs = VarStore::new(device);
        let net = Network::new(&vs.root(), &opts.config);
        let mut adam = Adam::new(&vs);
        let mut elapsed_s = 0.0;
        let mut rng_seed = opts.seed;
        let mut history = vec![];
        if let Some(wf) = start {
            history = self::history(&wf.metadata)?;
            weights::apply(&vs, &wf.tensors)?;
            if resumed {
                let (mv, meta) =
                    weights::deserialize_tensors(&std::fs::read(opts.run_dir.join(OPTIMIZER))?)?;
                for (k, t) in mv {
                    let (state, name) = match (k.strip_prefix("m."), k.strip_prefix("v.")) {
                        (Some(n), _) => (&mut adam.m, n),
                        (_, Some(n)) => (&mut adam.v, n),
                        _ => continue,
                    };
                    // Re-targeted gain rows start with fresh moments.
                    if !(retargeted && GAIN_TABLES.contains(&name)) {
                        state.insert(name.to_owned(), t.to_device(device));
                    }
                }
                adam.step = meta_number(&meta, "step").unwrap_or(0);
                adam.moment_steps = meta_number(&meta, "moment_steps").unwrap_or(adam.step);
            } else {
                // Initial weights keep their training history; only Adam starts afresh.
                adam.step = meta_number(&wf.metadata, "step").unwrap_or(0);
            }
            elapsed_s = meta_number(&wf.metadata, "elapsed_s").unwrap_or(0.0);
            rng_seed = opts.seed ^ adam.step as u64;
        }
        Ok(Self {
            opts,
            vs,
            net,
            precision,
            elapsed_s,
            rng: StdRng::seed_from_u64(rng_seed),
            lambda_draw,
            start: (adam.step, elapsed_s),
            adam,
            history,
        })
    }

    pub fn step(&self) -> i64 {
        self.adam.step
    }

    fn lr(&self) -> f64 {
        if self.adam.step >= self.opts.steps * 9 / 10 {
            self.opts.lr / 10.0
        } else {
            self.opts.lr
        }
    }

    /// One optimisation step on `x`; returns (loss, bpp, mse, λ index).
    pub fn train_step(&mut self, x: &Tensor) -> (f64, f64, f64, usize) {
        let x = &x.to_device(self.vs.device());
        let lambdas = &self.opts.config.lambdas;
        let li = match &self.lambda_draw {
            Some(d) => d.sample(&mut self.rng),
            None => self.rng.gen_range(0..lambdas.len()),
        };
        let mode = if self.rng.r#gen::<f64>() < self.opts.serial_fraction {
            ContextMode::Serial
        } else {
            ContextMode::Checkerboard
        };
        let out = self.net.forward_train(x, li, mode, self.precision);
        let s = x.size();
        let pixels = s[0] * s[2] * s[3];
        let mse = (&out.x_hat - x).square().mean(Kind::Float);
        let bpp =
            bits_per_pixel(&out.y_likelihood, pixels) + bits_per_pixel(&out.z_likelihood, pixels);
        let loss = &mse * (lambdas[li] * 255.0 * 255.0) + &bpp;
        loss.backward();
        let lr = self.lr();
        self.adam.step(&self.vs, lr, 1.0);
        (
            loss.double_value(&[]),
            bpp.double_value(&[]),
            mse.double_value(&[]),
            li,
        )
    }

    /// Writes the checkpoint and optimiser state atomically.
    pub fn save_checkpoint(&self) -> Result<(), Error> {
        let mut meta = HashMap::new();
        meta.insert("step".to_string(), self.adam.step.to_string());
        meta.insert("elapsed_s".to_string(), format!("{:.1}", self.elapsed_s));
        let history = serde_json::to_string(&self.history_now())
            .map_err(|e| Error::Model(format!("cannot record the training history: {e}")))?;
        meta.insert("history".to_string(), history);
        let bytes = weights::serialize(&self.vs, &self.opts.config, None, &meta, Storage::F32)?;
        let mut state = BTreeMap::new();
        for (k, t) in &self.adam.m {
            state.insert(format!("m.{k}"), t.shallow_clone());
        }
        for (k, t) in &self.adam.v {
            state.insert(format!("v.{k}"), t.shallow_clone());
        }
        let mut ometa = HashMap::new();
        ometa.insert("step".to_string(), self.adam.step.to_string());
        ometa.insert(
            "moment_steps".to_string(),
            self.adam.moment_steps.to_string(),
        );
        let obytes = weights::serialize_tensors(&state, ometa, Storage::F32)?;
        write_atomic(&self.opts.run_dir.join(OPTIMIZER), &obytes)?;
        write_atomic(&self.opts.run_dir.join(CHECKPOINT), &bytes)?;
        Ok(())
    }

    /// The history up to the current step: the earlier stretches and this one, which
    /// extends the last when a resume changed nothing but the step.
    pub fn history_now(&self) -> Vec<Stretch> {
        let mut h = self.history.clone();
        let (from, s0) = self.start;
        if self.adam.step > from {
            let now = Stretch {
                from,
                to: self.adam.step,
                hours: (self.elapsed_s - s0) / 3600.0,
                data: self
                    .opts
                    .data_note
                    .clone()
                    .unwrap_or_else(|| self.opts.data.display().to_string()),
                settings: Some(StretchSettings {
                    device: format!("{:?}", self.vs.device()).to_lowercase(),
                    batch: self.opts.batch,
                    crop: self.opts.crop,
                    lr: self.opts.lr,
                    precision: format!("{:?}", self.precision).to_lowercase(),
                    lambda_weights: self.opts.lambda_weights.clone(),
                }),
            };
            match h.last_mut() {
                Some(last)
                    if last.to == from
                        && last.data == now.data
                        && last.settings == now.settings =>
                {
                    last.to = now.to;
                    last.hours += now.hours;
                }
                _ => h.push(now),
            }
        }
        h
    }

    /// A codec from the current weights (prior frozen, f16 as shipped).
    pub fn snapshot_codec(&self) -> Result<Codec, Error> {
        let bytes = weights::serialize_shipped(&self.vs, &self.net, &HashMap::new())?;
        Codec::from_bytes(
            &bytes,
            "snapshot",
            &CodecOptions {
                threads: self.opts.threads,
                device: self.opts.device,
                ..Default::default()
            },
        )
    }

    /// Real coding on the validation images at three qualities: (quality, bpp, PSNR) each.
    pub fn validate(&self, images: &[Image]) -> Result<Vec<(f64, f64, f64)>, Error> {
        let codec = self.snapshot_codec()?;
        let mut out = Vec::new();
        for q in [0.0, 50.0, 100.0] {
            let (mut bpp, mut psnr) = (0.0, 0.0);
            for img in images {
                let (bytes, rec) = codec.encode_and_reconstruct(
                    img,
                    &EncodeOptions {
                        quality: q,
                        ..Default::default()
                    },
                )?;
                bpp += bytes.len() as f64 * 8.0 / f64::from(img.width * img.height);
                psnr += metrics::psnr(img, &rec);
            }
            let n = images.len().max(1) as f64;
            out.push((q, bpp / n, psnr / n));
        }
        Ok(out)
    }

    /// Trains until `opts.steps` or until `stop` is set; checkpoints on the way and at the end.
    pub fn run(&mut self, stop: Arc<AtomicBool>) -> Result<(), Error> {
        tch::set_num_threads(self.opts.threads.max(1) as i32);
        let rx = data::spawn_loader(
            &self.opts.data,
            self.opts.batch,
            self.opts.crop,
            self.opts.seed ^ self.adam.step as u64,
        )?;
        let val_images = match &self.opts.val_dir {
            Some(d) => load_eval_images(d, self.opts.val_images)?,
            None => vec![],
        };
        let log_path = self.opts.run_dir.join("train.csv");
        let new_log = !log_path.exists();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        if new_log {
            writeln!(log, "step,elapsed_s,lambda,loss,bpp,mse,psnr,lr")?;
        }
        let val_path = self.opts.run_dir.join("val.csv");
        let new_val = !val_path.exists();
        let mut vlog = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&val_path)?;
        if new_val {
            writeln!(vlog, "step,elapsed_s,quality,bpp,psnr")?;
        }
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = if tty {
            ProgressBar::new(self.opts.steps as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} {per_sec} ETA {eta} {msg}",
            )
            .expect("valid template"),
        );
        bar.set_position(self.adam.step as u64);
        let mut last_ckpt = Instant::now();
        let mut t0 = Instant::now();
        let l = self.opts.config.lambdas.len();
        // Running bpp/PSNR per λ; `None` until that λ has been drawn, so the bar never shows a
        // made-up 0 bpp / 0 dB for it.
        let mut ema: Vec<Option<(f64, f64)>> = vec![None; l];
        while self.adam.step < self.opts.steps && !stop.load(Ordering::Relaxed) {
            let x = rx
                .recv()
                .map_err(|_| Error::InvalidInput("data loader stopped".into()))?;
            let (loss, bpp, mse, li) = self.train_step(&x);
            self.elapsed_s += t0.elapsed().as_secs_f64();
            t0 = Instant::now();
            let psnr = 10.0 * (1.0 / mse.max(1e-12)).log10();
            ema[li] = Some(match ema[li] {
                None => (bpp, psnr),
                Some((b, p)) => (0.95 * b + 0.05 * bpp, 0.95 * p + 0.05 * psnr),
            });
            let step = self.adam.step;
            writeln!(
                log,
                "{step},{:.1},{},{loss:.5},{bpp:.5},{mse:.7},{psnr:.3},{}",
                self.elapsed_s,
                self.opts.config.lambdas[li],
                self.lr()
            )?;
            let msg = format!(
                "loss {loss:.3} | {}",
                ema.iter()
                    .map(|e| match e {
                        Some((b, p)) => format!("{b:.3}bpp/{p:.1}dB"),
                        None => "-".to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            bar.set_position(step as u64);
            bar.set_message(msg.clone());
            if !tty && step % 50 == 0 {
                eprintln!("step {step} ({:.2} h) {msg}", self.elapsed_s / 3600.0);
            }
            if last_ckpt.elapsed().as_secs() >= self.opts.checkpoint_secs {
                self.save_checkpoint()?;
                last_ckpt = Instant::now();
            }
            if !val_images.is_empty() && self.opts.val_every > 0 && step % self.opts.val_every == 0
            {
                for (q, b, p) in self.validate(&val_images)? {
                    writeln!(vlog, "{step},{:.1},{q},{b:.4},{p:.3}", self.elapsed_s)?;
                    bar.println(format!(
                        "validation step {step}: quality {q}: {b:.4} bpp {p:.2} dB (real coding)"
                    ));
                    if !tty {
                        eprintln!(
                            "validation step {step}: quality {q}: {b:.4} bpp {p:.2} dB (real coding)"
                        );
                    }
                }
                t0 = Instant::now();
            }
        }
        self.save_checkpoint()?;
        bar.finish_and_clear();
        eprintln!(
            "checkpoint at step {} saved in {}",
            self.adam.step,
            self.opts.run_dir.display()
        );
        Ok(())
    }
}

/// A number from a safetensors metadata map, if present and well-formed.
fn meta_number<T: std::str::FromStr>(meta: &HashMap<String, String>, key: &str) -> Option<T> {
    meta.get(key).and_then(|s| s.parse().ok())
}

/// Loads up to `limit` images of a folder as RGB [`Image`]s (sorted by name).
pub fn load_eval_images(dir: &Path, limit: usize) -> Result<Vec<Image>, Error> {
    let files = data::image_files(dir)?;
    files
        .iter()
        .take(limit)
        .map(|p| {
            let i = image::open(p)
                .map_err(|e| Error::InvalidInput(format!("{}: {e}", p.display())))?
                .to_rgb8();
            Image::new_rgb(i.width(), i.height(), i.into_raw())
        })
        .collect()
}

/// Turns training checkpoints into a shipped model: f16 weights with the z prior
/// frozen into integer tables. Several checkpoints of one run are averaged weight by
/// weight, since checkpoints late in a low-learning-rate stretch scatter around a
/// better point than any one of them; the latest one's metadata (step, history) is
/// kept, and `averaged_steps` names them all. Returns the model hash.
pub fn export(
    checkpoints: &[PathBuf],
    out_file: &Path,
    extra: &HashMap<String, String>,
) -> Result<[u8; 16], Error> {
    let mut files = checkpoints
        .iter()
        .map(|c| {
            let src = if c.is_dir() {
                c.join(CHECKPOINT)
            } else {
                c.clone()
            };
            let wf = weights::deserialize(&std::fs::read(&src).map_err(|e| {
                Error::InvalidInput(format!("cannot read {}: {e}", src.display()))
            })?)?;
            Ok((meta_number::<i64>(&wf.metadata, "step").unwrap_or(0), wf))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    files.sort_by_key(|(step, _)| *step);
    let (last_step, last) = files
        .pop()
        .ok_or_else(|| Error::InvalidInput("no checkpoint to export".into()))?;
    let mut tensors = last.tensors;
    let mut meta = last.metadata;
    if !files.is_empty() {
        for (step, f) in &files {
            if f.config != last.config {
                return Err(Error::InvalidInput(format!(
                    "the step-{step} checkpoint is another architecture ({:?}) than the latest ({:?})",
                    f.config, last.config
                )));
            }
            if f.tensors.len() != tensors.len() {
                return Err(Error::InvalidInput(format!(
                    "the step-{step} checkpoint has {} tensors, the latest {}",
                    f.tensors.len(),
                    tensors.len()
                )));
            }
        }
        let n = files.len() as f64 + 1.0;
        for (name, t) in tensors.iter_mut() {
            let mut sum = t.shallow_clone();
            for (step, f) in &files {
                match f.tensors.get(name) {
                    Some(o) if o.size() == t.size() => sum += o,
                    _ => {
                        return Err(Error::InvalidInput(format!(
                            "the step-{step} checkpoint has no tensor {name} of shape {:?}",
                            t.size()
                        )));
                    }
                }
            }
            *t = sum / n;
        }
        let steps: Vec<String> = files
            .iter()
            .map(|(s, _)| *s)
            .chain([last_step])
            .map(|s| s.to_string())
            .collect();
        meta.insert("averaged_steps".to_string(), steps.join(","));
    }
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), &last.config);
    weights::apply(&vs, &tensors)?;
    meta.remove("config");
    meta.extend(extra.clone());
    let bytes = weights::serialize_shipped(&vs, &net, &meta)?;
    if let Some(parent) = out_file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic(out_file, &bytes)?;
    weights::model_hash(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_from_before_the_history_get_one_stretch_without_settings() {
        let meta: HashMap<String, String> = [("step", "500"), ("elapsed_s", "7200"), ("data", "d")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let h = history(&meta).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].from, h[0].to, h[0].hours), (0, 500, 2.0));
        assert_eq!(h[0].data, "unrecorded (the last stretch used d)");
        assert_eq!(h[0].settings, None);
        assert!(history(&HashMap::new()).unwrap().is_empty());
    }

    #[test]
    fn a_malformed_history_is_an_error() {
        let meta: HashMap<String, String> =
            [("history".to_string(), "[{\"from\": 0}".to_string())].into();
        assert!(matches!(history(&meta), Err(Error::Model(_))));
    }
}
