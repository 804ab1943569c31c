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
#[command(name = "gllmm", version, about = "Learned image codec (GLLMM entropy model)")]
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

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Prec {
    F32,
    Bf16,
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
}

impl ModelArgs {
    fn load(&self) -> gllmm::Result<Codec> {
        let opts = CodecOptions {
            device: match self.device {
                Dev::Auto => DeviceChoice::Auto,
                Dev::Cpu => DeviceChoice::Cpu,
                Dev::Cuda => DeviceChoice::Cuda,
            },
            threads: self.threads,
            precision: if self.precision == Prec::Bf16 { Precision::Bf16 } else { Precision::F32 },
        };
        Codec::load_named(&self.model, &opts)
    }
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
    /// Turn a training checkpoint into a shipped model (f16, frozen z prior).
    Export {
        /// Run directory or checkpoint file.
        checkpoint: PathBuf,
        /// Output model directory, e.g. models/gllmm-default.
        #[arg(short, long)]
        output: PathBuf,
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
    #[arg(long, value_enum, default_value = "bf16")]
    precision: Prec,
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
    /// Initial weights when the run directory has no checkpoint (e.g. a shipped model).
    #[arg(long)]
    init: Option<PathBuf>,
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
        .map_err(|e| format!("{} is not a picture this tool reads (PNG, JPEG, PPM): {e}", path.display()))?;
    let gray = matches!(img.color(), image::ColorType::L8 | image::ColorType::L16 | image::ColorType::La8 | image::ColorType::La16);
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
    image::save_buffer_with_format(path, &img.data, img.width, img.height, ct, image::ImageFormat::Png)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Byte ranges of the frames in a .gllmm stream.
fn frames(data: &[u8]) -> Result<Vec<(usize, usize)>, String> {
    let mut v = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (_, used) = format::read_frame(&data[pos..]).map_err(|e| format!("frame {} at byte {pos}: {e}", v.len()))?;
        v.push((pos, used));
        pos += used;
    }
    if v.is_empty() {
        return Err("empty file: no gllmm frame".into());
    }
    Ok(v)
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Encode { input, output, quality, context, model } => {
            let img = read_image(&input)?;
            let codec = model.load().map_err(|e| e.to_string())?;
            let opts = EncodeOptions {
                quality,
                context: match context {
                    Ctx::Checkerboard => ContextMode::Checkerboard,
                    Ctx::Serial => ContextMode::Serial,
                },
                ..Default::default()
            };
            let t = std::time::Instant::now();
            let bytes = codec.encode(&img, &opts).map_err(|e| e.to_string())?;
            std::fs::write(&output, &bytes).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
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
        Cmd::Decode { input, output, frame, model } => {
            let data = std::fs::read(&input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
            let fr = frames(&data)?;
            let &(pos, len) = fr.get(frame).ok_or_else(|| format!("{} has {} frames, no frame {frame}", input.display(), fr.len()))?;
            let codec = model.load().map_err(|e| e.to_string())?;
            let img = codec.decode(&data[pos..pos + len]).map_err(|e| format!("{}: {e}", input.display()))?;
            write_png(&img, &output)?;
        }
        Cmd::Info { input } => {
            let data = std::fs::read(&input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
            for (i, (pos, len)) in frames(&data)?.into_iter().enumerate() {
                let (f, _) = format::read_frame(&data[pos..]).map_err(|e| e.to_string())?;
                let h = &f.header;
                println!("frame {i}: offset {pos}, {len} bytes");
                println!("  size:      {}x{}", h.width, h.height);
                println!("  colour:    {:?}", h.colour);
                println!("  context:   {:?}", h.context);
                println!("  quality:   {}", h.quality);
                println!("  framerate: {}/{}", h.fps_n, h.fps_d);
                println!("  model:     {} ({})", h.model_name, gllmm::hex(&h.model_hash));
                for s in &h.sections {
                    println!("  section:   {:?} {} bytes", s.kind, s.len);
                }
                println!("  bpp:       {:.4}", len as f64 * 8.0 / (f64::from(h.width) * f64::from(h.height)));
            }
        }
        Cmd::Train(a) => {
            let run_dir = a.run_dir.unwrap_or_else(|| gllmm_home().join("runs").join(&a.name));
            let opts = TrainOptions {
                data: a.data,
                run_dir,
                config: ModelConfig::new(a.n, a.m, ModelConfig::default_lambdas()),
                batch: a.batch,
                crop: a.crop,
                lr: a.lr,
                steps: a.steps,
                precision: if a.precision == Prec::Bf16 { Precision::Bf16 } else { Precision::F32 },
                threads: a.threads,
                checkpoint_secs: a.checkpoint_secs,
                serial_fraction: a.serial_fraction,
                seed: a.seed,
                val_dir: a.val_data,
                val_images: a.val_images,
                val_every: a.val_every,
                init: a.init,
            };
            let mut trainer = Trainer::new(opts).map_err(|e| e.to_string())?;
            eprintln!(
                "training {:?} from step {} in {}",
                trainer.opts.config,
                trainer.step(),
                trainer.opts.run_dir.display()
            );
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            ctrlc::set_handler(move || s.store(true, Ordering::Relaxed)).map_err(|e| e.to_string())?;
            trainer.run(stop).map_err(|e| e.to_string())?;
        }
        Cmd::Export { checkpoint, output } => {
            let file = output.join("model.safetensors");
            let hash = gllmm::train::export(&checkpoint, &file, &Default::default()).map_err(|e| e.to_string())?;
            eprintln!("exported {} (hash {})", file.display(), gllmm::hex(&hash));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gllmm: error: {e}");
            ExitCode::FAILURE
        }
    }
}
