//! gst_check::Harness tests of each element.

mod common;

use gst::prelude::*;

fn raw_caps(format: &str, w: i32, h: i32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", format)
        .field("width", w)
        .field("height", h)
        .field("framerate", gst::Fraction::new(25, 1))
        .build()
}

fn encoder() -> gst_check::Harness {
    common::init();
    let e = gst::ElementFactory::make("gllmmenc")
        .property("model", common::MODEL)
        .build()
        .unwrap();
    gst_check::Harness::with_element(&e, Some("sink"), Some("src"))
}

fn encode_frames(frames: &[(u32, u32)]) -> Vec<gst::Buffer> {
    let mut h = encoder();
    let mut out = Vec::new();
    for (i, &(w, ht)) in frames.iter().enumerate() {
        h.set_src_caps(raw_caps("RGB", w as i32, ht as i32));
        let mut buf = gst::Buffer::from_mut_slice(padded_rgb(w, ht, i as u32));
        buf.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(40 * i as u64));
        assert_eq!(h.push(buf), Ok(gst::FlowSuccess::Ok));
        out.push(h.pull().unwrap());
    }
    out
}

/// RGB rows padded to GStreamer's 4-byte stride.
fn padded_rgb(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let stride = (w as usize * 3).div_ceil(4) * 4;
    let px = common::rgb(w, h, seed);
    let mut v = vec![0u8; stride * h as usize];
    for y in 0..h as usize {
        v[y * stride..y * stride + w as usize * 3]
            .copy_from_slice(&px[y * w as usize * 3..(y + 1) * w as usize * 3]);
    }
    v
}

#[test]
fn encoder_negotiates_and_codes_decodable_frames() {
    let mut h = encoder();
    h.set_src_caps(raw_caps("RGB", 33, 17));
    assert_eq!(
        h.push(gst::Buffer::from_mut_slice(padded_rgb(33, 17, 0))),
        Ok(gst::FlowSuccess::Ok)
    );
    let buf = h.pull().unwrap();
    assert!(
        !buf.flags().contains(gst::BufferFlags::DELTA_UNIT),
        "every frame is a sync point"
    );
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "image/x-gllmm");
    assert_eq!(s.get::<i32>("width").unwrap(), 33);
    assert!(s.get::<bool>("parsed").unwrap());
    let img = common::codec()
        .decode(&buf.map_readable().unwrap())
        .unwrap();
    assert_eq!((img.width, img.height), (33, 17));
    h.push_event(gst::event::Eos::new());
}

#[test]
fn encoder_properties() {
    let h = encoder();
    let e = h.element().unwrap();
    e.set_property("quality", 80.0f64);
    assert_eq!(e.property::<f64>("quality"), 80.0);
    e.set_property("threads", 1u32);
    assert_eq!(e.property::<u32>("threads"), 1);
    e.set_property_from_str("context", "serial");
    e.set_property_from_str("device", "cpu");
    assert_eq!(e.property::<String>("model"), common::MODEL);
}

#[test]
fn encoder_refines_latents_as_the_codec_does() {
    let mut h = encoder();
    h.element().unwrap().set_property("refine", 10u32);
    assert_eq!(h.element().unwrap().property::<u32>("refine"), 10);
    h.set_src_caps(raw_caps("RGB", 33, 17));
    assert_eq!(
        h.push(gst::Buffer::from_mut_slice(padded_rgb(33, 17, 0))),
        Ok(gst::FlowSuccess::Ok)
    );
    let buf = h.pull().unwrap();
    let img = gllmm::Image::new_rgb(33, 17, common::rgb(33, 17, 0)).unwrap();
    let encode = |refine| {
        let opts = gllmm::EncodeOptions {
            framerate: (25, 1),
            refine,
            ..Default::default()
        };
        common::codec().encode(&img, &opts).unwrap()
    };
    let refined = encode(10);
    assert_eq!(buf.map_readable().unwrap().as_slice(), refined.as_slice());
    assert_ne!(refined, encode(0), "the property reaches the codec");
}

#[test]
fn encoder_accepts_every_listed_format() {
    for (fmt, bpp) in [
        ("RGBx", 4),
        ("BGRx", 4),
        ("RGBA", 4),
        ("BGRA", 4),
        ("GRAY8", 1),
        ("GRAY16_BE", 2),
        ("ARGB64", 8),
    ] {
        let mut h = encoder();
        h.set_src_caps(raw_caps(fmt, 8, 4));
        let stride = (8 * bpp as usize).div_ceil(4) * 4;
        assert_eq!(
            h.push(gst::Buffer::from_mut_slice(vec![128u8; stride * 4])),
            Ok(gst::FlowSuccess::Ok),
            "{fmt}"
        );
        let buf = h.pull().unwrap();
        let img = common::codec()
            .decode(&buf.map_readable().unwrap())
            .unwrap();
        let gray = fmt.starts_with("GRAY");
        assert_eq!(img.layout == gllmm::ColourLayout::Gray, gray, "{fmt}");
    }
}

#[test]
fn encoder_with_a_missing_model_fails_with_a_message() {
    common::init();
    let e = gst::ElementFactory::make("gllmmenc")
        .property("model", "no-such-model")
        .build()
        .unwrap();
    let err = e.set_state(gst::State::Paused);
    assert!(err.is_err());
    e.set_state(gst::State::Null).unwrap();
}

fn decoder() -> gst_check::Harness {
    common::init();
    let mut h = gst_check::Harness::new("gllmmdec");
    h.set_src_caps(
        gst::Caps::builder("image/x-gllmm")
            .field("parsed", true)
            .build(),
    );
    h
}

#[test]
fn decoder_outputs_rgb_and_renegotiates_on_size_change() {
    let frames = encode_frames(&[(40, 24), (40, 24), (17, 9)]);
    let mut h = decoder();
    let codec = common::codec();
    for f in &frames {
        assert_eq!(h.push(f.clone()), Ok(gst::FlowSuccess::Ok));
        let out = h.pull().unwrap();
        let expect = codec.decode(&f.map_readable().unwrap()).unwrap();
        let caps = h.sinkpad().unwrap().current_caps().unwrap();
        let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
        assert_eq!((info.width(), info.height()), (expect.width, expect.height));
        assert_eq!(info.format(), gst_video::VideoFormat::Rgb);
        let map = out.map_readable().unwrap();
        let stride = info.stride()[0] as usize;
        for y in 0..expect.height as usize {
            let row = expect.width as usize * 3;
            assert_eq!(
                &map[y * stride..y * stride + row],
                &expect.data[y * row..(y + 1) * row]
            );
        }
    }
    h.push_event(gst::event::Eos::new());
}

#[test]
fn decoder_survives_corrupt_frames_and_flushes() {
    let frames = encode_frames(&[(24, 24), (24, 24)]);
    let mut h = decoder();
    let mut bad = frames[0].map_readable().unwrap().to_vec();
    let n = bad.len();
    bad[n - 10] ^= 0x55;
    // A corrupt frame is dropped and counted against max-errors, not fatal.
    assert_eq!(
        h.push(gst::Buffer::from_mut_slice(bad)),
        Ok(gst::FlowSuccess::Ok)
    );
    assert_eq!(
        h.push(gst::Buffer::from_mut_slice(b"garbage".to_vec())),
        Ok(gst::FlowSuccess::Ok)
    );
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.set_src_caps(
        gst::Caps::builder("image/x-gllmm")
            .field("parsed", true)
            .build(),
    );
    assert_eq!(h.push(frames[1].clone()), Ok(gst::FlowSuccess::Ok));
    assert!(h.pull().is_ok());
    // With max-errors 0 the next bad frame is an error on the bus.
    h.element().unwrap().set_property("max-errors", 0i32);
    assert_eq!(
        h.push(gst::Buffer::from_mut_slice(b"GLMM\x01garbage".to_vec())),
        Err(gst::FlowError::Error)
    );
}

#[test]
fn decoder_properties() {
    let h = decoder();
    let e = h.element().unwrap();
    e.set_property("threads", 2u32);
    e.set_property_from_str("device", "cpu");
    e.set_property("model-dir", "/nonexistent");
    assert_eq!(
        e.property::<Option<String>>("model-dir").as_deref(),
        Some("/nonexistent")
    );
}

fn parser() -> gst_check::Harness {
    common::init();
    let mut h = gst_check::Harness::new("gllmmparse");
    h.set_src_caps(gst::Caps::builder("image/x-gllmm").build());
    h
}

#[test]
fn parser_frames_chunked_stream_with_garbage() {
    let frames = encode_frames(&[(16, 16), (20, 12), (16, 16)]);
    let mut stream = b"junk before".to_vec();
    for f in &frames {
        stream.extend_from_slice(&f.map_readable().unwrap());
        stream.extend_from_slice(b"GLMM\x01\xff\xff garbage between frames");
    }
    let mut h = parser();
    for chunk in stream.chunks(7) {
        let _ = h.push(gst::Buffer::from_slice(chunk.to_vec()));
    }
    h.push_event(gst::event::Eos::new());
    let mut got = Vec::new();
    while let Some(b) = h.try_pull() {
        got.push(b.map_readable().unwrap().to_vec());
    }
    let want: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| f.map_readable().unwrap().to_vec())
        .collect();
    assert_eq!(got, want);
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    let s = caps.structure(0).unwrap();
    assert!(s.get::<bool>("parsed").unwrap());
    assert_eq!(s.get::<i32>("width").unwrap(), 16);
}

#[test]
fn typefinder_accepts_gllmm_and_rejects_other_data() {
    common::init();
    let frame = encode_frames(&[(8, 8)]).remove(0);
    let data = frame.map_readable().unwrap().to_vec();
    let (caps, prob) =
        gst_base::functions::type_find_helper_for_data(None::<&gst::Object>, &data).unwrap();
    assert_eq!(caps.structure(0).unwrap().name(), "image/x-gllmm");
    assert_eq!(prob, gst::TypeFindProbability::Maximum);
    for other in [
        &b"\x89PNG\r\n\x1a\n0000000000000000"[..],
        b"GLMM\x02000000000000000000000000",
        &[0u8; 64],
    ] {
        let r = gst_base::functions::type_find_helper_for_data(None::<&gst::Object>, other);
        assert!(r.map_or(true, |(c, _)| c.structure(0).unwrap().name()
            != "image/x-gllmm"));
    }
}
