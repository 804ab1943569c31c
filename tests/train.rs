//! Training, checkpoints, export, eval and compare on a tiny model and generated pictures.

mod common;

use gllmm::model::ModelConfig;
use gllmm::train::{TrainOptions, Trainer};
use gllmm::{Codec, CodecOptions, DeviceChoice, EncodeOptions, Error, Precision};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tch::Tensor;

fn write_pictures(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let img = common::picture(80 + 8 * i as u32, 72, gllmm::ColourLayout::Rgb);
        image::save_buffer(
            dir.join(format!("p{i}.png")),
            &img.data,
            img.width,
            img.height,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    }
}

fn options(dir: &Path) -> TrainOptions {
    TrainOptions {
        data: dir.join("data"),
        run_dir: dir.join("run"),
        config: ModelConfig::new(16, 16, vec![0.005, 0.02]),
        batch: 2,
        crop: 64,
        lr: 1e-3,
        steps: 6,
        precision: Some(Precision::F32),
        device: DeviceChoice::Cpu,
        threads: 1,
        checkpoint_secs: 3600,
        serial_fraction: 0.5,
        seed: 5,
        val_dir: None,
        val_images: 0,
        val_every: 0,
        init: None,
        lambdas: None,
        lambda_weights: None,
        data_note: None,
    }
}

/// A run of `options`' six steps on three generated pictures, checkpointed in `dir`.
fn trained_run(dir: &Path) -> Trainer {
    write_pictures(&dir.join("data"), 3);
    let mut t = Trainer::new(options(dir)).unwrap();
    t.run(Arc::new(AtomicBool::new(false))).unwrap();
    assert_eq!(t.step(), 6);
    t
}

/// Deep copies of a trainer's weights: its variables share storage with the live ones.
fn weights_now(t: &Trainer) -> Vec<(String, Tensor)> {
    t.vs.variables()
        .into_iter()
        .map(|(k, v)| (k, v.copy()))
        .collect()
}

#[test]
fn steps_reduce_the_loss_on_a_fixed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(options(dir.path())).unwrap();
    let x = Tensor::rand([2, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu)) * 0.2 + 0.4;
    let first: f64 = (0..3).map(|_| t.train_step(&x).2).sum::<f64>() / 3.0;
    for _ in 0..30 {
        t.train_step(&x);
    }
    let last: f64 = (0..3).map(|_| t.train_step(&x).2).sum::<f64>() / 3.0;
    assert!(last < first, "MSE did not drop: {first} -> {last}");
}

#[test]
fn checkpoint_resume_continues_with_identical_state() {
    let dir = tempfile::tempdir().unwrap();
    let a = trained_run(dir.path());
    let b = Trainer::new(options(dir.path())).unwrap();
    assert_eq!(b.step(), 6);
    assert_eq!(b.adam.moment_steps, a.adam.moment_steps);
    let va = a.vs.variables();
    let vb = b.vs.variables();
    assert_eq!(va.len(), vb.len());
    for (k, t) in &va {
        assert!(t.equal(&vb[k]), "weight {k} differs after resume");
    }
    for (k, m) in &a.adam.m {
        assert!(
            m.equal(&b.adam.m[k]) && a.adam.v[k].equal(&b.adam.v[k]),
            "optimiser state {k} differs"
        );
    }
}

#[test]
fn a_run_from_exported_weights_keeps_their_history_with_fresh_moments() {
    let dir = tempfile::tempdir().unwrap();
    let a = trained_run(dir.path());
    let model = dir.path().join("model.safetensors");
    gllmm::train::export(&[dir.path().join("run")], &model, &Default::default()).unwrap();
    let mut opts = options(&dir.path().join("second"));
    opts.data = dir.path().join("data");
    opts.init = Some(model);
    opts.steps = 7;
    let mut b = Trainer::new(opts).unwrap();
    assert_eq!(
        b.step(),
        6,
        "the step count goes on from the initial weights"
    );
    assert_eq!(b.adam.moment_steps, 0);
    assert!((b.elapsed_s - a.elapsed_s).abs() < 0.1);
    let before = weights_now(&b);
    let x = Tensor::rand([2, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu));
    b.train_step(&x);
    // Adam's first step moves each updated weight by at most about lr, as on a new run.
    let vars = b.vs.variables();
    let mut largest: f64 = 0.0;
    for (k, t) in &before {
        let moved = (&vars[k] - t).abs().max().double_value(&[]);
        assert!(moved < 1.5e-3, "{k} moved {moved} on the first step");
        largest = largest.max(moved);
    }
    assert!(largest > 1e-4, "the first step moved no weight ({largest})");
    assert_eq!((b.step(), b.adam.moment_steps), (7, 1));
}

#[test]
fn export_averages_checkpoints_and_refuses_other_architectures() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = trained_run(dir.path());
    let early = dir.path().join("step6.safetensors");
    std::fs::copy(dir.path().join("run/checkpoint.safetensors"), &early).unwrap();
    let at6 = weights_now(&t);
    let x = Tensor::rand([2, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu));
    for _ in 0..10 {
        t.train_step(&x);
    }
    t.save_checkpoint().unwrap();
    let at16 = t.vs.variables();

    let model = dir.path().join("avg/model.safetensors");
    let run = dir.path().join("run");
    gllmm::train::export(&[run.clone(), early.clone()], &model, &Default::default()).unwrap();
    let wf = gllmm::model::weights::deserialize(&std::fs::read(&model).unwrap()).unwrap();
    assert_eq!(wf.metadata["averaged_steps"], "6,16");
    assert_eq!(
        wf.metadata["step"], "16",
        "the latest checkpoint's metadata is kept"
    );
    // Within f16 rounding of the mean, and told apart from either end.
    let mut apart = 0;
    for (k, a) in &at6 {
        let mean = (a + &at16[k]) / 2.0;
        let err = (&wf.tensors[k] - &mean).abs().max().double_value(&[]);
        let tol = 1e-3 * mean.abs().max().double_value(&[]) + 1e-6;
        assert!(err <= tol, "{k}: {err} off the mean");
        let half_step = (a - &mean).abs().max().double_value(&[]);
        apart += usize::from(half_step > 4.0 * tol);
    }
    assert!(
        apart > 0,
        "no weight moved enough to tell the mean from the ends"
    );

    let other = Trainer::new(TrainOptions {
        config: ModelConfig::new(16, 24, vec![0.005, 0.02]),
        run_dir: dir.path().join("other"),
        ..options(dir.path())
    })
    .unwrap();
    other.save_checkpoint().unwrap();
    let err = gllmm::train::export(
        &[run, dir.path().join("other")],
        &model,
        &Default::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("architecture"), "{err}");
    let err = gllmm::train::export(&[], &model, &Default::default()).unwrap_err();
    assert!(err.to_string().contains("no checkpoint"), "{err}");
}

#[test]
fn the_history_of_every_stretch_reaches_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    trained_run(dir.path());
    let model = dir.path().join("model.safetensors");
    gllmm::train::export(&[dir.path().join("run")], &model, &Default::default()).unwrap();
    let mut opts = options(&dir.path().join("second"));
    opts.data = dir.path().join("data");
    opts.run_dir = dir.path().join("second/run");
    opts.init = Some(model);
    opts.steps = 8;
    opts.batch = 1;
    opts.lambda_weights = Some(vec![1.0, 3.0]);
    opts.data_note = Some("two of the three pictures".into());
    let mut b = Trainer::new(opts).unwrap();
    b.run(Arc::new(AtomicBool::new(false))).unwrap();
    let h = b.history_now();
    assert_eq!(h.len(), 2);
    assert_eq!((h[0].from, h[0].to, h[1].from, h[1].to), (0, 6, 6, 8));
    assert_eq!(h[0].data, dir.path().join("data").display().to_string());
    assert!(h[0].settings.is_some());
    assert_eq!(h[1].data, "two of the three pictures");
    let s = h[1].settings.as_ref().unwrap();
    assert_eq!((s.batch, s.crop, s.device.as_str()), (1, 64, "cpu"));
    assert_eq!(s.lambda_weights, Some(vec![1.0, 3.0]));
    drop(b);
    // Resumed with the same settings, the stretch goes on; with others, a new one starts.
    let mut opts = options(&dir.path().join("second"));
    opts.data = dir.path().join("data");
    opts.run_dir = dir.path().join("second/run");
    opts.steps = 9;
    opts.batch = 1;
    opts.lambda_weights = Some(vec![1.0, 3.0]);
    opts.data_note = Some("two of the three pictures".into());
    let mut b = Trainer::new(opts.clone()).unwrap();
    b.run(Arc::new(AtomicBool::new(false))).unwrap();
    assert_eq!(b.history_now().len(), 2);
    assert_eq!(b.history_now()[1].to, 9);
    opts.steps = 10;
    opts.lr /= 10.0;
    let mut b = Trainer::new(opts).unwrap();
    b.run(Arc::new(AtomicBool::new(false))).unwrap();
    let h = b.history_now();
    assert_eq!(h.len(), 3);
    assert_eq!((h[2].from, h[2].to), (9, 10));

    let out = dir.path().join("models/next");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gllmm"))
        .arg("export")
        .arg(dir.path().join("second/run"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let t = &m["training"];
    assert_eq!(t["steps"], 10);
    assert_eq!(t["history"].as_array().unwrap().len(), 3);
    assert_eq!(t["history"][1]["to"], 9);
    assert_eq!(
        t["data"].as_str().unwrap(),
        format!("{}; two of the three pictures", h[0].data)
    );
}

#[test]
fn resume_with_a_new_lambda_set_keeps_the_trained_rates() {
    let dir = tempfile::tempdir().unwrap();
    let a = trained_run(dir.path());
    let wider = vec![0.002, 0.005, 0.02, 0.08];
    let mut opts = options(dir.path());
    opts.lambdas = Some(wider.clone());
    opts.steps = 8;
    let mut b = Trainer::new(opts).unwrap();
    assert_eq!(b.step(), 6);
    assert_eq!(b.opts.config.lambdas, wider);
    // Old λ 0.005 is now position 1 of 3 (quality 100/3), 0.02 position 2.
    for (old_q, new_q) in [(0.0, 100.0 / 3.0), (100.0, 200.0 / 3.0)] {
        let diff = (a.net.gain(old_q) - b.net.gain(new_q))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-5, "gain at a trained λ moved by {diff}");
    }
    let vb = b.vs.variables();
    for (k, t) in a.vs.variables() {
        if !k.starts_with("gain.") {
            assert!(t.equal(&vb[&k]), "weight {k} changed");
        }
    }
    b.run(Arc::new(AtomicBool::new(false))).unwrap();
    assert_eq!(b.step(), 8);
    let c = Trainer::new(options(dir.path())).unwrap();
    assert_eq!(
        c.opts.config.lambdas, wider,
        "the checkpoint keeps the new set"
    );
}

#[test]
fn a_crop_off_the_network_stride_or_an_empty_batch_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for (batch, crop) in [(2, 32), (2, 96), (2, 0), (0, 64)] {
        let r = Trainer::new(TrainOptions {
            batch,
            crop,
            ..options(dir.path())
        });
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "batch {batch} crop {crop}"
        );
    }
}

#[test]
fn a_lambda_set_out_of_order_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.lambdas = Some(vec![0.02, 0.01]);
    assert!(Trainer::new(opts).is_err());
}

#[test]
fn lambda_weights_of_the_wrong_length_negative_infinite_or_all_zero_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for w in [
        vec![1.0],
        vec![1.0, 1.0, 1.0],
        vec![0.0, 0.0],
        vec![1.0, -1.0],
        vec![1.0, f64::INFINITY],
        vec![f64::NAN, 1.0],
    ] {
        let mut opts = options(dir.path());
        opts.lambda_weights = Some(w.clone());
        let err = Trainer::new(opts).err().expect("bad weights accepted");
        assert!(err.to_string().contains("λ weights"), "{w:?}: {err}");
    }
}

#[test]
fn lambda_weights_decide_which_lambdas_are_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.lambda_weights = Some(vec![0.0, 1.0]);
    let mut t = Trainer::new(opts).unwrap();
    let x = Tensor::rand([1, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu));
    assert!((0..8).all(|_| t.train_step(&x).3 == 1));
}

#[test]
fn training_on_cuda_without_a_gpu_is_an_error() {
    if tch::Cuda::is_available() {
        eprintln!("skipped: this machine has CUDA");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_pictures(&dir.path().join("data"), 1);
    let err = Trainer::new(TrainOptions {
        device: DeviceChoice::Cuda,
        ..options(dir.path())
    })
    .err()
    .expect("no CUDA device here");
    assert!(err.to_string().contains("CUDA"), "{err}");
}

#[test]
fn no_precision_records_the_precision_it_picks() {
    let dir = tempfile::tempdir().unwrap();
    write_pictures(&dir.path().join("data"), 2);
    let mut t = Trainer::new(TrainOptions {
        precision: None,
        steps: 1,
        ..options(dir.path())
    })
    .unwrap();
    // The pick is timed on CPUs with AVX-512 bf16, so a second probe may differ.
    let picked = t.precision;
    t.run(Arc::new(AtomicBool::new(false))).unwrap();
    let wf = gllmm::model::weights::deserialize(
        &std::fs::read(dir.path().join("run/checkpoint.safetensors")).unwrap(),
    )
    .unwrap();
    let want = format!("\"precision\":\"{}\"", format!("{picked:?}").to_lowercase());
    assert!(wf.metadata["history"].contains(&want), "{:?}", wf.metadata);
}

#[test]
fn export_load_eval_compare() {
    let dir = tempfile::tempdir().unwrap();
    write_pictures(&dir.path().join("data"), 2);
    let mut t = Trainer::new(TrainOptions {
        steps: 2,
        ..options(dir.path())
    })
    .unwrap();
    t.run(Arc::new(AtomicBool::new(false))).unwrap();
    let out = dir.path().join("models/exported/model.safetensors");
    let hash = gllmm::train::export(&[dir.path().join("run")], &out, &Default::default()).unwrap();
    let codec = Codec::load(out.parent().unwrap(), &CodecOptions::default()).unwrap();
    assert_eq!(codec.hash(), hash);
    assert_eq!(codec.name(), "exported");
    let img = common::picture(50, 40, gllmm::ColourLayout::Rgb);
    let (bytes, rec) = codec
        .encode_and_reconstruct(&img, &EncodeOptions::default())
        .unwrap();
    assert_eq!(codec.decode(&bytes).unwrap(), rec);

    // eval and compare through the CLI produce well-formed JSON.
    let data = dir.path().join("data");
    let ej = dir.path().join("eval.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gllmm"))
        .args(["eval", "--unquantised", "--qualities", "0,100", "--data"])
        .arg(&data)
        .arg("--model")
        .arg(&out)
        .arg("--json")
        .arg(&ej)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&ej).unwrap()).unwrap();
    assert_eq!(v["gllmm"]["bpp"].as_array().unwrap().len(), 2);
    assert!(v["gllmm"]["psnr"][0].as_f64().unwrap() > 0.0);
    assert_eq!(v["gllmm"]["psnr_unquantised"].as_array().unwrap().len(), 2);
    let cj = dir.path().join("compare.json");
    let plot = dir.path().join("rd.svg");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gllmm"))
        .args(["compare", "--qualities", "0,50,100", "--data"])
        .arg(&data)
        .arg("--model")
        .arg(&out)
        .arg("--json")
        .arg(&cj)
        .arg("--plot")
        .arg(&plot)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cj).unwrap()).unwrap();
    assert!(v["gllmm"]["bpp"].is_array());
    let skipped = v["skipped"].as_object().unwrap();
    for name in ["JPEG", "WebP", "AVIF", "HEIF", "JPEG XL"] {
        // Every system codec was either measured or skipped with a reason.
        assert!(
            v[name]["bpp"].is_array() || skipped.contains_key(name),
            "{name} neither run nor skipped"
        );
    }
    assert!(v["bd_rate_vs"].is_object());
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));

    // A candidate against a reference curve (how a new model is judged against the
    // shipped one), no system codec: the same PSNRs at 0.9x the rate is -10 %.
    let curve = |scale: f64| {
        let bpp: Vec<f64> = [0.2, 0.4, 0.6, 0.8, 1.0]
            .iter()
            .map(|b| b * scale)
            .collect();
        let psnr: Vec<f64> = [0.2f64, 0.4, 0.6, 0.8, 1.0]
            .iter()
            .map(|b| 30.0 + 5.0 * b.ln())
            .collect();
        let zeros = vec![0.0; 5];
        serde_json::json!({ "gllmm": {
            "quality": [0, 25, 50, 75, 100], "bpp": bpp, "psnr": psnr,
            "ms_ssim": zeros, "encode_ms": zeros, "decode_ms": zeros,
        }, "images": 2 })
    };
    let shipped = dir.path().join("shipped_eval.json");
    let cand = dir.path().join("cand.json");
    std::fs::write(&shipped, curve(1.0).to_string()).unwrap();
    std::fs::write(&cand, curve(0.9).to_string()).unwrap();
    // `compare` of the candidate with `codecs`, and `option file` (a reference or earlier curves).
    let compare = |codecs: &str, option: &str, file: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gllmm"))
            .args(["compare", "--codecs", codecs, "--data"])
            .arg(&data)
            .arg("--gllmm-json")
            .arg(&cand)
            .arg(option)
            .arg(file)
            .arg("--json")
            .arg(&cj)
            .output()
            .unwrap()
    };
    let run = |codecs: &str| compare(codecs, "--reference", &shipped);
    let o = run("none");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cj).unwrap()).unwrap();
    let bd = v["bd_rate_vs"].as_object().unwrap();
    assert_eq!(bd.len(), 1, "{bd:?}");
    let d = bd["gllmm [shipped_eval]"].as_f64().unwrap();
    assert!((d + 10.0).abs() < 1e-6, "BD-rate {d}");
    let o = run("jpeg,gif");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown codec `gif`"));

    // System codecs' curves taken from an earlier comparison instead of run again.
    let earlier = dir.path().join("earlier_compare.json");
    let mut e = curve(1.0);
    e["WebP"] = e["gllmm"].clone();
    std::fs::write(&earlier, e.to_string()).unwrap();
    let reuse = |codecs: &str, file: &Path| compare(codecs, "--codecs-json", file);
    let o = reuse("webp", &earlier);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cj).unwrap()).unwrap();
    let d = v["bd_rate_vs"]["WebP"].as_f64().unwrap();
    assert!((d + 10.0).abs() < 1e-6, "BD-rate {d}");
    assert_eq!(v["WebP"]["bpp"], e["WebP"]["bpp"]);
    let o = reuse("jpeg", &earlier);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no JPEG curve"));
    e["images"] = 3.into();
    std::fs::write(&earlier, e.to_string()).unwrap();
    let o = reuse("webp", &earlier);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("measured on 3 images"));
}
