//! The `gllmm` command line: encode, decode, info, train, export, eval, compare, bench.

use clap::{Args, Parser, Subcommand, ValueEnum};
use gllmm::format::{self, ContextMode};
use gllmm::model::ModelConfig;
use gllmm::train::{TrainOptions, Trainer};
use gllmm::{Codec, CodecOptions, ColourLayout, DeviceChoice, EncodeOptions, Image, Precision};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser)]
#[command(
    name = "gllmm",
    version,
    about = "Learned image codec (GLLMM entropy model)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Ctx {
    Checkerboard,
    Serial,
}

#[derive(Clone, Copy, ValueEnum)]
enum Dev {
    Auto,
    Cpu,
    Cuda,
}

impl From<Dev> for DeviceChoice {
    fn from(d: Dev) -> Self {
        match d {
            Dev::Auto => Self::Auto,
            Dev::Cpu => Self::Cpu,
            Dev::Cuda => Self::Cuda,
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Prec {
    F32,
    Bf16,
}

impl From<Prec> for Precision {
    fn from(p: Prec) -> Self {
        match p {
            Prec::F32 => Self::F32,
            Prec::Bf16 => Self::Bf16,
        }
    }
}

/// Training's precision: `auto` takes bf16 only where it runs faster than f32.
#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum TrainPrec {
    Auto,
    F32,
    Bf16,
}

/// The images and qualities of an evaluation, shared by `eval` and `compare`.
#[derive(Args, Clone)]
struct EvalSet {
    #[arg(long)]
    data: PathBuf,
    /// Qualities to measure, comma separated [default: one per λ the model was trained for].
    #[arg(long, value_delimiter = ',')]
    qualities: Option<Vec<f64>>,
    /// Use only the first N images (sorted by name).
    #[arg(long)]
    limit: Option<usize>,
}

impl EvalSet {
    fn images(&self) -> Result<Vec<Image>, String> {
        gllmm::train::trainer::load_eval_images(&self.data, self.limit.unwrap_or(usize::MAX))
            .map_err(|e| e.to_string())
    }
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// Model name (searched in the model directories) or path to a .safetensors file.
    #[arg(long, default_value = gllmm::codec::DEFAULT_MODEL)]
    model: String,
    /// Where the transforms run.
    #[arg(long, value_enum, default_value = "auto")]
    device: Dev,
    /// Threads for the transforms (0: libtorch's default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Precision of the transforms; encoder and decoder must agree for bit-exact output.
    #[arg(long, value_enum, default_value = "f32")]
    precision: Prec,
    /// Refuse pictures larger than this many pixels.
    #[arg(long, default_value_t = gllmm::codec::DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
}

impl ModelArgs {
    fn load(&self) -> gllmm::Result<Codec> {
        let opts = CodecOptions {
            device: self.device.into(),
            threads: self.threads,
            precision: self.precision.into(),
            max_pixels: self.max_pixels,
        };
        Codec::load_named(&self.model, &opts)
    }
}

/// What `gllmm bench` times.
#[derive(Args)]
struct BenchArgs {
    #[arg(long, default_value_t = 128)]
    n: i64,
    #[arg(long, default_value_t = 128)]
    m: i64,
    #[arg(long, default_value_t = 768)]
    width: u32,
    #[arg(long, default_value_t = 512)]
    height: u32,
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2])]
    threads: Vec<usize>,
    #[arg(long, default_value_t = 2)]
    iters: usize,
    /// Also time the serial context.
    #[arg(long)]
    serial: bool,
    /// Latent refinement steps per encode (timed in the transform column).
    #[arg(long, default_value_t = 0)]
    refine: u32,
}

#[derive(Subcommand)]
enum Cmd {
    /// Encode a PNG, JPEG or PPM picture into a .gllmm file.
    Encode {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Quality 0..=100 (continuous); higher means more bits.
        #[arg(short, long, default_value_t = 50.0)]
        quality: f64,
        #[arg(long, value_enum, default_value = "checkerboard")]
        context: Ctx,
        /// Gradient steps refining the latents for this picture (0 = off; 30 to 100 pay):
        /// fewer bits for the same quality, paid for in encoding time only.
        #[arg(long, default_value_t = 0)]
        refine: u32,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Decode a .gllmm file (its first frame, or --frame N) to PNG.
    Decode {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value_t = 0)]
        frame: usize,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Print the header fields and section sizes of every frame.
    Info { input: PathBuf },
    /// Train a model on a folder of images (resumes from the run directory's checkpoint).
    Train(TrainArgs),
    /// Real-coding rate-distortion curve on a folder of images (e.g. Kodak).
    Eval {
        #[command(flatten)]
        set: EvalSet,
        #[arg(long, value_enum, default_value = "checkerboard")]
        context: Ctx,
        /// Latent refinement steps per encode (see `encode --refine`).
        #[arg(long, default_value_t = 0)]
        refine: u32,
        /// Also measure the PSNR of the transforms alone (latents unrounded): the gap
        /// to the coded PSNR is what quantisation costs.
        #[arg(long)]
        unquantised: bool,
        /// Write the averaged curve as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Run gllmm and the system codecs (JPEG, WebP, AVIF, HEIF, JPEG XL) on the same
    /// images; print BD-rates and write an RD plot.
    Compare {
        #[command(flatten)]
        set: EvalSet,
        /// System codecs to run, comma separated (jpeg, webp, avif, heif, jxl), or `none`.
        #[arg(long, value_delimiter = ',', default_value = "jpeg,webp,avif,heif,jxl")]
        codecs: Vec<String>,
        #[arg(long)]
        json: Option<PathBuf>,
        /// RD plot (SVG).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Also plot and BD-rate against the curves in this JSON (`{"name": {"bpp": [..],
        /// "psnr": [..]}}`: e.g. shared/reference/kodak_rd.json, or a shipped model's
        /// kodak_eval.json to decide whether a candidate is better).
        #[arg(long)]
        reference: Option<PathBuf>,
        /// Take gllmm's curve from a `gllmm eval --json` run on the same images
        /// instead of measuring it again.
        #[arg(long)]
        gllmm_json: Option<PathBuf>,
        /// Take the system codecs' curves from an earlier `gllmm compare --json` on the
        /// same images instead of running them again (they do not change with our model).
        #[arg(long)]
        codecs_json: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Time encode and decode of a random-weights model, split by stage.
    Bench(BenchArgs),
    /// Turn a training checkpoint into a shipped model (f16, frozen z prior); several
    /// checkpoints of one run are averaged into one model.
    Export {
        /// Run directories or checkpoint files.
        #[arg(required = true)]
        checkpoints: Vec<PathBuf>,
        /// Output model directory, e.g. models/gllmm-default.
        #[arg(short, long)]
        output: PathBuf,
        /// `gllmm eval --json` output measured on this model's weights, for the manifest.
        #[arg(long)]
        eval: Option<PathBuf>,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// Folder of training images (searched recursively).
    #[arg(long)]
    data: PathBuf,
    /// Run directory for checkpoints and logs [default: $GLLMM_HOME/runs/<name>].
    #[arg(long)]
    run_dir: Option<PathBuf>,
    #[arg(long, default_value = "default")]
    name: String,
    #[arg(long, default_value_t = 64)]
    n: i64,
    #[arg(long, default_value_t = 128)]
    m: i64,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long, default_value_t = 128)]
    crop: usize,
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    #[arg(long, default_value_t = 1_000_000)]
    steps: i64,
    /// Precision of the transforms (auto: bf16 on CUDA; on CPUs with native bf16 the faster of
    /// the two in a short probe; else f32).
    #[arg(long, value_enum, default_value = "auto")]
    precision: TrainPrec,
    /// Where the network trains (auto: CUDA when there is one).
    #[arg(long, value_enum, default_value = "auto")]
    device: Dev,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 300)]
    checkpoint_secs: u64,
    #[arg(long, default_value_t = 0.25)]
    serial_fraction: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder for periodic validation with real coding (e.g. the Kodak set).
    #[arg(long)]
    val_data: Option<PathBuf>,
    #[arg(long, default_value_t = 2)]
    val_images: usize,
    #[arg(long, default_value_t = 2000)]
    val_every: i64,
    /// Initial weights when the run directory has no checkpoint (e.g. a shipped model):
    /// their step count and hours carry on; the optimiser starts afresh.
    #[arg(long)]
    init: Option<PathBuf>,
    /// λ set, comma separated and ascending [default: the model's, or 0.0008,…,0.15 for a new one].
    /// A resumed or initial model with another set has its gains re-targeted to this one.
    #[arg(long, value_delimiter = ',')]
    lambdas: Option<Vec<f64>>,
    /// How often each λ is drawn, comma separated, one per λ (e.g. 1,1,1,1,2,2,3) [default: uniform].
    #[arg(long, value_delimiter = ',')]
    lambda_weights: Option<Vec<f64>>,
    /// How the training history names this stretch's data [default: the --data path],
    /// e.g. for a copy of part of a set.
    #[arg(long)]
    data_note: Option<String>,
}

fn gllmm_home() -> PathBuf {
    std::env::var_os("GLLMM_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gllmm")))
        .unwrap_or_else(|| PathBuf::from(".gllmm"))
}

fn read_image(path: &Path) -> Result<Image, String> {
    let img = image::ImageReader::open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?
        .with_guessed_format()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .decode()
        .map_err(|e| {
            format!(
                "{} is not a picture this tool reads (PNG, JPEG, PPM): {e}",
                path.display()
            )
        })?;
    let gray = matches!(
        img.color(),
        image::ColorType::L8
            | image::ColorType::L16
            | image::ColorType::La8
            | image::ColorType::La16
    );
    let r = if gray {
        let g = img.to_luma8();
        Image::new_gray(g.width(), g.height(), g.into_raw())
    } else {
        let c = img.to_rgb8();
        Image::new_rgb(c.width(), c.height(), c.into_raw())
    };
    r.map_err(|e| e.to_string())
}

fn write_png(img: &Image, path: &Path) -> Result<(), String> {
    let ct = match img.layout {
        ColourLayout::Rgb => image::ExtendedColorType::Rgb8,
        ColourLayout::Gray => image::ExtendedColorType::L8,
    };
    image::save_buffer_with_format(
        path,
        &img.data,
        img.width,
        img.height,
        ct,
        image::ImageFormat::Png,
    )
    .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Byte ranges of the frames in a .gllmm stream.
fn frames(data: &[u8]) -> Result<Vec<(usize, usize, format::FrameHeader)>, String> {
    let mut v = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (f, used) = format::read_frame(&data[pos..])
            .map_err(|e| format!("frame {} at byte {pos}: {e}", v.len()))?;
        v.push((pos, used, f.header));
        pos += used;
    }
    if v.is_empty() {
        return Err("empty file: no gllmm frame".into());
    }
    Ok(v)
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Encode {
            input,
            output,
            quality,
            context,
            refine,
            model,
        } => {
            let img = read_image(&input)?;
            let codec = model.load().map_err(|e| e.to_string())?;
            let opts = EncodeOptions {
                quality,
                context: ctx_mode(context),
                refine,
                ..Default::default()
            };
            let t = std::time::Instant::now();
            let bytes = codec.encode(&img, &opts).map_err(|e| e.to_string())?;
            std::fs::write(&output, &bytes)
                .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
            eprintln!(
                "{}: {}x{} -> {} bytes, {:.4} bpp, {:.0} ms",
                output.display(),
                img.width,
                img.height,
                bytes.len(),
                bytes.len() as f64 * 8.0 / f64::from(img.width * img.height),
                t.elapsed().as_secs_f64() * 1e3
            );
        }
        Cmd::Decode {
            input,
            output,
            frame,
            model,
        } => {
            let data = std::fs::read(&input)
                .map_err(|e| format!("cannot read {}: {e}", input.display()))?;
            let fr = frames(&data)?;
            let &(pos, len, _) = fr.get(frame).ok_or_else(|| {
                format!(
                    "{} has {} frames, no frame {frame}",
                    input.display(),
                    fr.len()
                )
            })?;
            let codec = model.load().map_err(|e| e.to_string())?;
            let img = codec
                .decode(&data[pos..pos + len])
                .map_err(|e| format!("{}: {e}", input.display()))?;
            write_png(&img, &output)?;
        }
        Cmd::Info { input } => {
            let data = std::fs::read(&input)
                .map_err(|e| format!("cannot read {}: {e}", input.display()))?;
            for (i, (pos, len, h)) in frames(&data)?.into_iter().enumerate() {
                println!("frame {i}: offset {pos}, {len} bytes");
                println!("  size:      {}x{}", h.width, h.height);
                println!("  colour:    {:?}", h.colour);
                println!("  context:   {:?}", h.context);
                println!("  quality:   {}", h.quality);
                println!("  framerate: {}/{}", h.fps_n, h.fps_d);
                println!(
                    "  model:     {} ({})",
                    h.model_name,
                    gllmm::hex(&h.model_hash)
                );
                for s in &h.sections {
                    println!("  section:   {:?} {} bytes", s.kind, s.len);
                }
                println!(
                    "  bpp:       {:.4}",
                    len as f64 * 8.0 / (f64::from(h.width) * f64::from(h.height))
                );
            }
        }
        Cmd::Train(a) => {
            let run_dir = a
                .run_dir
                .unwrap_or_else(|| gllmm_home().join("runs").join(&a.name));
            let precision = match a.precision {
                TrainPrec::Auto => None,
                TrainPrec::F32 => Some(Precision::F32),
                TrainPrec::Bf16 => Some(Precision::Bf16),
            };
            let opts = TrainOptions {
                data: a.data,
                run_dir,
                config: ModelConfig::new(a.n, a.m, ModelConfig::default_lambdas()),
                batch: a.batch,
                crop: a.crop,
                lr: a.lr,
                steps: a.steps,
                precision,
                device: a.device.into(),
                threads: a.threads,
                checkpoint_secs: a.checkpoint_secs,
                serial_fraction: a.serial_fraction,
                seed: a.seed,
                val_dir: a.val_data,
                val_images: a.val_images,
                val_every: a.val_every,
                init: a.init,
                lambdas: a.lambdas,
                lambda_weights: a.lambda_weights,
                data_note: a.data_note,
            };
            let mut trainer = Trainer::new(opts).map_err(|e| e.to_string())?;
            eprintln!(
                "training {:?} from step {} in {} on {:?} in {:?}",
                trainer.opts.config,
                trainer.step(),
                trainer.opts.run_dir.display(),
                trainer.vs.device(),
                trainer.precision
            );
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            ctrlc::set_handler(move || s.store(true, Ordering::Relaxed))
                .map_err(|e| e.to_string())?;
            trainer.run(stop).map_err(|e| e.to_string())?;
        }
        Cmd::Eval {
            set,
            context,
            refine,
            unquantised,
            json,
            model,
        } => {
            let images = set.images()?;
            let (data, qualities) = (set.data, set.qualities);
            let codec = model.load().map_err(|e| e.to_string())?;
            let qualities = qualities.unwrap_or_else(|| codec.anchor_qualities());
            let opts = EncodeOptions {
                context: ctx_mode(context),
                refine,
                ..Default::default()
            };
            let mut curve =
                gllmm::eval::eval(&codec, &images, &qualities, &opts, |m| eprint!("\r{m}   "))
                    .map_err(|e| e.to_string())?;
            eprintln!();
            if unquantised {
                curve.psnr_unquantised = gllmm::eval::unquantised_psnr(&codec, &images, &qualities)
                    .map_err(|e| e.to_string())?;
            }
            println!(
                "gllmm model {} ({}) on {} images of {}",
                codec.name(),
                gllmm::hex(&codec.hash()),
                images.len(),
                data.display()
            );
            print_curve("gllmm", &curve);
            if let Some(p) = json {
                let v = serde_json::json!({ "gllmm": curve, "model": codec.name(), "hash": gllmm::hex(&codec.hash()), "images": images.len(), "data": data.display().to_string(), "context": format!("{:?}", opts.context).to_lowercase(), "refine": refine });
                std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap())
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            }
        }
        Cmd::Compare {
            set,
            codecs,
            json,
            plot,
            reference,
            gllmm_json,
            codecs_json,
            model,
        } => {
            let system = selected_codecs(&codecs)?;
            let images = set.images()?;
            let (data, qualities) = (set.data, set.qualities);
            let ours: gllmm::eval::Curve = match &gllmm_json {
                Some(p) => measured_curve(&read_measured(p, images.len())?, "gllmm", p)?,
                None => {
                    let codec = model.load().map_err(|e| e.to_string())?;
                    let qualities = qualities.unwrap_or_else(|| codec.anchor_qualities());
                    let c = gllmm::eval::eval(
                        &codec,
                        &images,
                        &qualities,
                        &EncodeOptions::default(),
                        |m| eprint!("\rgllmm {m}   "),
                    )
                    .map_err(|e| e.to_string())?;
                    eprintln!();
                    c
                }
            };
            let mut out = serde_json::Map::new();
            out.insert("gllmm".into(), serde_json::to_value(&ours).unwrap());
            let mut curves = vec![("gllmm".to_string(), ours.points())];
            let mut skipped = serde_json::Map::new();
            let earlier = match &codecs_json {
                Some(p) => Some((read_measured(p, images.len())?, p)),
                None => None,
            };
            let work = tempfile_dir()?;
            for sc in system {
                if let Some((v, p)) = &earlier {
                    let c = measured_curve(v, sc.name, p)?;
                    curves.push((sc.name.to_string(), c.points()));
                    out.insert(sc.name.into(), serde_json::to_value(&c).unwrap());
                    continue;
                }
                if let Some(tool) = sc.missing_tool() {
                    eprintln!(
                        "skipping {}: `{tool}` is not installed (scripts/setup.sh installs it)",
                        sc.name
                    );
                    skipped.insert(sc.name.into(), format!("{tool} not installed").into());
                    continue;
                }
                eprintln!("running {} ...", sc.name);
                match sc.run(&images, &work) {
                    Ok(c) => {
                        curves.push((sc.name.to_string(), c.points()));
                        out.insert(sc.name.into(), serde_json::to_value(&c).unwrap());
                    }
                    Err(e) => {
                        eprintln!("skipping {}: {e}", sc.name);
                        skipped.insert(sc.name.into(), e.to_string().into());
                    }
                }
            }
            let _ = std::fs::remove_dir_all(&work);
            if let Some(r) = &reference {
                let v = read_json(r)?;
                let label = r.file_stem().unwrap_or_default().to_string_lossy();
                for (name, c) in v.as_object().into_iter().flatten() {
                    let get = |k: &str| {
                        c.get(k)
                            .and_then(|a| a.as_array())
                            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect::<Vec<_>>())
                    };
                    if let (Some(b), Some(p)) = (get("bpp"), get("psnr")) {
                        curves.push((format!("{name} [{label}]"), b.into_iter().zip(p).collect()));
                    }
                }
            }
            let mut bd = serde_json::Map::new();
            println!("{:<40} {:>12}", "BD-rate of gllmm vs", "(PSNR, %)");
            for (name, pts) in curves.iter().skip(1) {
                let d = gllmm::eval::bd_rate(pts, &curves[0].1);
                match d {
                    Some(d) => println!("{name:<40} {d:>+11.1}%"),
                    None => println!("{name:<40} {:>12}", "no overlap"),
                }
                bd.insert(
                    name.clone(),
                    d.map_or(serde_json::Value::Null, |d| d.into()),
                );
            }
            for (name, pts) in &curves[..curves.len().min(6)] {
                let s: Vec<String> = pts.iter().map(|(b, p)| format!("{b:.3}/{p:.2}")).collect();
                println!("{name:<12} bpp/PSNR: {}", s.join("  "));
            }
            out.insert("bd_rate_vs".into(), bd.into());
            out.insert("skipped".into(), skipped.into());
            out.insert("images".into(), images.len().into());
            if let Some(p) = json {
                std::fs::write(&p, serde_json::to_string_pretty(&out).unwrap())
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            }
            if let Some(p) = plot {
                let title = format!("{} ({} images)", data.display(), images.len());
                std::fs::write(&p, gllmm::eval::rd_plot_svg(&curves, &title))
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            }
        }
        Cmd::Bench(args) => bench(&args)?,
        Cmd::Export {
            checkpoints,
            output,
            eval,
        } => {
            let file = output.join("model.safetensors");
            let hash = gllmm::train::export(&checkpoints, &file, &Default::default())
                .map_err(|e| e.to_string())?;
            eprintln!("exported {} (hash {})", file.display(), gllmm::hex(&hash));
            write_manifest(&file, eval.as_deref())?;
        }
    }
    Ok(())
}

/// `manifest.json` next to a shipped model: architecture, λ set, training
/// figures from the checkpoint, and the Kodak curve from a `gllmm eval --json` run
/// on exactly these weights (refused when the hash differs).
fn write_manifest(model: &Path, eval: Option<&Path>) -> Result<(), String> {
    let bytes =
        std::fs::read(model).map_err(|e| format!("cannot read {}: {e}", model.display()))?;
    let wf = gllmm::model::weights::deserialize(&bytes).map_err(|e| e.to_string())?;
    let hash = gllmm::hex(&wf.hash);
    let meta = |k: &str| wf.metadata.get(k).cloned().unwrap_or_default();
    let hours = meta("elapsed_s").parse::<f64>().unwrap_or(0.0) / 3600.0;
    let history = gllmm::train::history(&wf.metadata).map_err(|e| e.to_string())?;
    // Each data set once, in the order the run first used it.
    let mut data: Vec<&str> = vec![];
    for s in &history {
        if !data.contains(&s.data.as_str()) {
            data.push(&s.data);
        }
    }
    let mut m = serde_json::json!({
        "name": model.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()),
        "file": "model.safetensors",
        "hash": hash,
        "size_bytes": bytes.len(),
        "config": wf.config,
        "training": {
            "steps": meta("step").parse::<i64>().unwrap_or(0),
            "hours": (hours * 100.0).round() / 100.0,
            "data": data.join("; "),
            "history": history,
        },
    });
    if let Some(steps) = wf.metadata.get("averaged_steps") {
        let steps: Vec<i64> = steps.split(',').filter_map(|s| s.parse().ok()).collect();
        m["training"]["averaged_steps"] = steps.into();
    }
    if let Some(e) = eval {
        let v = read_json(e)?;
        if v["hash"].as_str() != Some(hash.as_str()) {
            return Err(format!(
                "{} was measured on model {}, not on the exported {hash}",
                e.display(),
                v["hash"]
            ));
        }
        m["kodak"] =
            serde_json::json!({ "data": v["data"], "images": v["images"], "curve": v["gllmm"] });
    }
    let path = model.with_file_name("manifest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn ctx_mode(c: Ctx) -> ContextMode {
    match c {
        Ctx::Checkerboard => ContextMode::Checkerboard,
        Ctx::Serial => ContextMode::Serial,
    }
}

/// The system codecs named on the command line (`none`: no system codec).
fn selected_codecs(names: &[String]) -> Result<Vec<gllmm::eval::SystemCodec>, String> {
    let key = |s: &str| s.to_ascii_lowercase().replace(' ', "");
    let mut all = gllmm::eval::system_codecs();
    let known: Vec<String> = all.iter().map(|c| key(c.name)).collect();
    let mut wanted = Vec::new();
    for n in names {
        let k = match key(n).as_str() {
            "none" => continue,
            "jxl" => "jpegxl".to_string(),
            k => k.to_string(),
        };
        if !known.contains(&k) {
            return Err(format!(
                "unknown codec `{n}` for --codecs (known: jpeg, webp, avif, heif, jxl, none)"
            ));
        }
        wanted.push(k);
    }
    all.retain(|c| wanted.contains(&key(c.name)));
    Ok(all)
}

/// A JSON file of earlier measurements (`eval --json`, `compare --json`), refused when it
/// was measured on another number of images.
fn read_measured(path: &Path, images: usize) -> Result<serde_json::Value, String> {
    let v = read_json(path)?;
    if v["images"].as_u64() != Some(images as u64) {
        return Err(format!(
            "{} was measured on {} images, this comparison uses {images}",
            path.display(),
            v["images"]
        ));
    }
    Ok(v)
}

/// The curve called `name` in a file from [`read_measured`].
fn measured_curve(
    v: &serde_json::Value,
    name: &str,
    path: &Path,
) -> Result<gllmm::eval::Curve, String> {
    let c = v
        .get(name)
        .ok_or_else(|| format!("{} holds no {name} curve", path.display()))?;
    serde_json::from_value(c.clone()).map_err(|e| format!("{}: {name}: {e}", path.display()))
}

/// A JSON file, with the path in any error.
fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let txt = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&txt).map_err(|e| format!("{}: {e}", path.display()))
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let d = std::env::temp_dir().join(format!("gllmm-compare-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    Ok(d)
}

fn print_curve(name: &str, c: &gllmm::eval::Curve) {
    let unq = !c.psnr_unquantised.is_empty();
    println!(
        "{:<8} {:>8} {:>8} {:>8} {:>9} {:>10} {:>10}{}",
        "codec",
        "quality",
        "bpp",
        "PSNR",
        "MS-SSIM",
        "enc ms",
        "dec ms",
        if unq { "  PSNR unquantised" } else { "" }
    );
    for i in 0..c.bpp.len() {
        let extra = c
            .psnr_unquantised
            .get(i)
            .map_or(String::new(), |p| format!(" {p:>18.3}"));
        println!(
            "{name:<8} {:>8.1} {:>8.4} {:>8.3} {:>9.5} {:>10.0} {:>10.0}{extra}",
            c.quality[i], c.bpp[i], c.psnr[i], c.ms_ssim[i], c.encode_ms[i], c.decode_ms[i]
        );
    }
}

/// Encode/decode wall time on a random-weights model, split into stages.
fn bench(args: &BenchArgs) -> Result<(), String> {
    let &BenchArgs {
        n,
        m,
        width,
        height,
        iters,
        serial,
        refine,
        ..
    } = args;
    let cfg = ModelConfig::new(n, m, ModelConfig::default_lambdas());
    let data: Vec<u8> = (0..width * height * 3)
        .map(|i| ((i * 7 + i / (width * 3) * 3) % 251) as u8)
        .collect();
    let img = Image::new_rgb(width, height, data).map_err(|e| e.to_string())?;
    println!(
        "random-weights model N={n} M={m}, {width}x{height}, {refine} refinement steps, best of {iters}, milliseconds"
    );
    println!(
        "{:<13} {:<5} {:>3} {:>6} | {:>9} {:>9} {:>9} {:>8}",
        "context", "prec", "thr", "op", "transform", "params", "entropy", "total"
    );
    let modes: &[ContextMode] = if serial {
        &[ContextMode::Checkerboard, ContextMode::Serial]
    } else {
        &[ContextMode::Checkerboard]
    };
    for &ctx in modes {
        for prec in [Precision::F32, Precision::Bf16] {
            for &t in &args.threads {
                let codec = Codec::random(
                    &cfg,
                    1,
                    &CodecOptions {
                        device: DeviceChoice::Cpu,
                        threads: t,
                        precision: prec,
                        ..Default::default()
                    },
                )
                .map_err(|e| e.to_string())?;
                let opts = EncodeOptions {
                    quality: 50.0,
                    context: ctx,
                    refine,
                    ..Default::default()
                };
                let mut best = [(f64::MAX, gllmm::codec::Timings::default()); 2];
                for _ in 0..iters.max(1) {
                    let t0 = std::time::Instant::now();
                    let bytes = codec.encode(&img, &opts).map_err(|e| e.to_string())?;
                    let e = (t0.elapsed().as_secs_f64() * 1e3, codec.last_timings());
                    let t0 = std::time::Instant::now();
                    codec.decode(&bytes).map_err(|e| e.to_string())?;
                    let d = (t0.elapsed().as_secs_f64() * 1e3, codec.last_timings());
                    if e.0 < best[0].0 {
                        best[0] = e;
                    }
                    if d.0 < best[1].0 {
                        best[1] = d;
                    }
                }
                for (op, (total, tm)) in ["encode", "decode"].iter().zip(best) {
                    println!(
                        "{:<13} {:<5} {:>3} {:>6} | {:>9.0} {:>9.0} {:>9.0} {:>8.0}",
                        format!("{ctx:?}"),
                        format!("{prec:?}"),
                        t,
                        op,
                        tm.transforms_ms,
                        tm.parameters_ms,
                        tm.entropy_ms,
                        total
                    );
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`gllmm info x | head`) instead of failing to print.
    // SAFETY: restoring the default disposition of a signal, before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gllmm: error: {e}");
            ExitCode::FAILURE
        }
    }
}
