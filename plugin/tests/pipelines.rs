//! Real pipelines: PNG files of every kind pngdec produces through the README's
//! pipelines, video from videotestsrc, odd block sizes, and errors on the bus.

mod common;

use gst::prelude::*;
use std::path::Path;

/// Runs a gst-launch style pipeline to EOS; an error message on the bus becomes `Err`.
fn run(desc: &str) -> Result<(), String> {
    common::init();
    let p = gst::parse::launch(desc).map_err(|e| e.to_string())?;
    let started = p.set_state(gst::State::Playing);
    let bus = p.bus().unwrap();
    let mut result = started.map(|_| ()).map_err(|e| format!("{e:?}"));
    let timeout = gst::ClockTime::from_seconds(if result.is_ok() { 120 } else { 1 });
    for msg in bus.iter_timed(timeout) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => {
                result = Err(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            _ => {}
        }
    }
    p.set_state(gst::State::Null).unwrap();
    result
}

fn write_png(path: &Path, w: u32, h: u32, color: png::ColorType, depth: png::BitDepth) {
    let f = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(f, w, h);
    enc.set_color(color);
    enc.set_depth(depth);
    let channels = match color {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::GrayscaleAlpha => 2,
        _ => 1,
    };
    let bytes_per = if depth == png::BitDepth::Sixteen {
        2
    } else {
        1
    };
    if color == png::ColorType::Indexed {
        enc.set_palette(
            (0..=255u8)
                .flat_map(|i| [i, 255 - i, i / 2])
                .collect::<Vec<u8>>(),
        );
    }
    let n = (w * h) as usize * channels * bytes_per;
    let data: Vec<u8> = (0..n).map(|i| ((i * 7 + i / 97) % 253) as u8).collect();
    enc.write_header().unwrap().write_image_data(&data).unwrap();
}

fn read_png(path: &Path) -> (u32, u32, png::ColorType, Vec<u8>) {
    let dec = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, buf)
}

#[test]
fn readme_pipelines_for_every_png_kind() {
    let dir = tempfile::tempdir().unwrap();
    let codec = common::codec();
    let kinds = [
        ("rgb8", png::ColorType::Rgb, png::BitDepth::Eight),
        ("rgba8", png::ColorType::Rgba, png::BitDepth::Eight),
        ("gray8", png::ColorType::Grayscale, png::BitDepth::Eight),
        ("palette", png::ColorType::Indexed, png::BitDepth::Eight),
        ("rgb16", png::ColorType::Rgb, png::BitDepth::Sixteen),
        ("gray16", png::ColorType::Grayscale, png::BitDepth::Sixteen),
    ];
    for (name, color, depth) in kinds {
        let src = dir.path().join(format!("{name}.png"));
        let coded = dir.path().join(format!("{name}.gllmm"));
        let back = dir.path().join(format!("{name}-back.png"));
        let back2 = dir.path().join(format!("{name}-back2.png"));
        write_png(&src, 45, 31, color, depth);
        run(&format!(
            "filesrc location={} ! pngdec ! gllmmenc model={} ! filesink location={}",
            src.display(),
            common::MODEL,
            coded.display()
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        run(&format!(
            "filesrc location={} ! gllmmparse ! gllmmdec ! pngenc ! filesink location={}",
            coded.display(),
            back.display()
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        run(&format!(
            "filesrc location={} ! decodebin ! videoconvert ! pngenc ! filesink location={}",
            coded.display(),
            back2.display()
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expect = codec.decode(&std::fs::read(&coded).unwrap()).unwrap();
        let gray = matches!(color, png::ColorType::Grayscale);
        assert_eq!(expect.layout == gllmm::ColourLayout::Gray, gray, "{name}");
        for out in [&back, &back2] {
            let (w, h, ct, data) = read_png(out);
            assert_eq!((w, h), (45, 31), "{name}");
            assert_eq!(
                ct,
                if gray {
                    png::ColorType::Grayscale
                } else {
                    png::ColorType::Rgb
                },
                "{name}"
            );
            assert_eq!(
                data, expect.data,
                "{name}: pipeline output differs from Codec::decode"
            );
        }
    }
}

#[test]
fn video_round_trip_with_timestamps_and_tiny_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("v.gllmm");
    run(&format!(
        "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240,framerate=30/1 ! gllmmenc model={} ! filesink location={}",
        common::MODEL,
        v.display()
    ))
    .unwrap();
    for blocksize in [4096, 7] {
        let p = gst::parse::launch(&format!(
            "filesrc location={} blocksize={blocksize} ! gllmmparse ! gllmmdec ! appsink name=sink sync=false",
            v.display()
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sink = p
            .by_name("sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        p.set_state(gst::State::Playing).unwrap();
        let mut pts = Vec::new();
        while let Ok(s) = sink.pull_sample() {
            let caps = s.caps().unwrap();
            let info = gst_video::VideoInfo::from_caps(caps).unwrap();
            assert_eq!((info.width(), info.height()), (320, 240));
            assert_eq!(info.fps(), gst::Fraction::new(30, 1));
            pts.push(s.buffer().unwrap().pts());
        }
        p.set_state(gst::State::Null).unwrap();
        assert_eq!(pts.len(), 30, "blocksize {blocksize}");
        for (i, t) in pts.iter().enumerate() {
            let want = gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / 30);
            let got = t.expect("timestamped");
            assert!(
                got.nseconds().abs_diff(want.nseconds()) < 1_000_000,
                "frame {i}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn errors_reach_the_bus_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.png");
    write_png(&src, 8, 8, png::ColorType::Rgb, png::BitDepth::Eight);
    let e = run(&format!(
        "filesrc location={} ! pngdec ! gllmmenc model=/nonexistent/model ! fakesink",
        src.display()
    ))
    .unwrap_err();
    assert!(e.contains("Cannot load gllmm model"), "{e}");
    let junk = dir.path().join("junk.gllmm");
    std::fs::write(&junk, b"GLMM\x01 this is not really a gllmm stream at all").unwrap();
    // Nothing parseable: the parser skips it all and the stream ends cleanly or errors; never a crash.
    let _ = run(&format!(
        "filesrc location={} ! gllmmparse ! gllmmdec ! fakesink",
        junk.display()
    ));
}
