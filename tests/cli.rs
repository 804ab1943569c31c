//! The `gllmm` command line: round trip, `info`, errors and exit codes.

mod common;

use std::path::Path;
use std::process::Command;

fn gllmm(args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gllmm"));
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

fn setup(dir: &Path) -> std::path::PathBuf {
    let m = dir.join("cli-model");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("model.safetensors"),
        gllmm::codec::random_weights(&common::small_config(), 21).unwrap(),
    )
    .unwrap();
    let img = common::picture(37, 29, gllmm::ColourLayout::Rgb);
    image::save_buffer(
        dir.join("in.png"),
        &img.data,
        37,
        29,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    m
}

#[test]
fn encode_info_decode() {
    let dir = tempfile::tempdir().unwrap();
    let model = setup(dir.path());
    let (inp, coded, back) = (
        dir.path().join("in.png"),
        dir.path().join("x.gllmm"),
        dir.path().join("back.png"),
    );
    let o = gllmm(&[
        &"encode",
        &inp,
        &"-o",
        &coded,
        &"-q",
        &"70",
        &"--context",
        &"serial",
        &"--model",
        &model,
        &"--threads",
        &"1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = gllmm(&[&"info", &coded]);
    assert!(o.status.success());
    let info = String::from_utf8_lossy(&o.stdout);
    for want in [
        "37x29",
        "Rgb",
        "Serial",
        "quality:   70",
        "cli-model",
        "section:   Z",
        "section:   Y",
        "bpp:",
    ] {
        assert!(info.contains(want), "missing {want:?} in\n{info}");
    }
    let o = gllmm(&[&"decode", &coded, &"-o", &back, &"--model", &model]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&back).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (37, 29));
}

#[test]
fn bad_inputs_fail_with_a_message_and_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let model = setup(dir.path());
    let junk = dir.path().join("junk.png");
    std::fs::write(&junk, b"this is not a picture").unwrap();
    let empty = dir.path().join("empty.gllmm");
    std::fs::write(&empty, b"").unwrap();
    let out = dir.path().join("o");
    let good = dir.path().join("in.png");
    let cases: Vec<Vec<&dyn AsRef<std::ffi::OsStr>>> = vec![
        vec![&"encode", &junk, &"-o", &out, &"--model", &model],
        vec![
            &"encode",
            &"/nonexistent.png",
            &"-o",
            &out,
            &"--model",
            &model,
        ],
        vec![&"decode", &empty, &"-o", &out, &"--model", &model],
        vec![&"decode", &junk, &"-o", &out, &"--model", &model],
        vec![&"info", &empty],
        vec![&"encode", &good, &"-o", &out, &"--model", &"no-such-model"],
        vec![
            &"encode", &good, &"-o", &out, &"--model", &model, &"-q", &"150",
        ],
    ];
    for args in cases {
        let o = gllmm(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("gllmm: error:"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A stream made with other weights names the mismatch.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("model.safetensors"),
        gllmm::codec::random_weights(&common::small_config(), 22).unwrap(),
    )
    .unwrap();
    let coded = dir.path().join("x.gllmm");
    assert!(
        gllmm(&[&"encode", &good, &"-o", &coded, &"--model", &model])
            .status
            .success()
    );
    let o = gllmm(&[&"decode", &coded, &"-o", &out, &"--model", &other]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("stream was made with model"));
}
