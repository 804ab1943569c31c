//! Embedding gllmm in an application pipeline: pictures pushed through
//! `appsrc ! gllmmenc ! appsink`, then the frames back through
//! `appsrc ! gllmmparse ! gllmmdec ! appsink`.
//!
//! Needs the plugin on GST_PLUGIN_PATH (`source scripts/env.sh` after
//! `scripts/build.sh`) and a model: `cargo run --release --example appsrc_pipeline [MODEL]`.

use gst::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    let model = std::env::args()
        .nth(1)
        .unwrap_or_else(|| gllmm::codec::DEFAULT_MODEL.into());
    let (w, h) = (160u32, 96u32);
    let enc = gst::parse::launch(&format!(
        "appsrc name=src caps=video/x-raw,format=RGB,width={w},height={h},framerate=10/1 format=time ! \
         gllmmenc model={model} quality=60 ! appsink name=sink sync=false"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let src = enc
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| "appsrc")?;
    let sink = enc
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .map_err(|_| "appsink")?;
    enc.set_state(gst::State::Playing)?;
    let stride = (w as usize * 3).div_ceil(4) * 4;
    for i in 0..5u64 {
        let mut data = vec![0u8; stride * h as usize];
        for y in 0..h as usize {
            for x in 0..w as usize * 3 {
                data[y * stride + x] = ((x + y + i as usize * 20) % 256) as u8;
            }
        }
        let mut buf = gst::Buffer::from_mut_slice(data);
        buf.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(100 * i));
        src.push_buffer(buf)?;
    }
    src.end_of_stream()?;
    let mut frames = Vec::new();
    while let Ok(s) = sink.pull_sample() {
        frames.push(s.buffer_owned().ok_or("no buffer")?);
    }
    enc.set_state(gst::State::Null)?;
    println!(
        "encoded {} frames, {} bytes",
        frames.len(),
        frames.iter().map(|b| b.size()).sum::<usize>()
    );

    let dec = gst::parse::launch("appsrc name=src caps=image/x-gllmm format=time ! gllmmparse ! gllmmdec ! appsink name=sink sync=false")?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let src = dec
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| "appsrc")?;
    let sink = dec
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .map_err(|_| "appsink")?;
    dec.set_state(gst::State::Playing)?;
    for f in frames {
        src.push_buffer(f)?;
    }
    src.end_of_stream()?;
    let mut n = 0;
    while let Ok(s) = sink.pull_sample() {
        let info = gst_video::VideoInfo::from_caps(s.caps().ok_or("caps")?)?;
        println!(
            "decoded frame {n}: {}x{} {:?} pts {:?}",
            info.width(),
            info.height(),
            info.format(),
            s.buffer().and_then(|b| b.pts())
        );
        n += 1;
    }
    dec.set_state(gst::State::Null)?;
    Ok(())
}
