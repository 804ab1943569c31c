use crate::props::Device;
use gllmm::{Codec, ColourLayout};
use gst::glib;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "gllmmdec",
        gst::DebugColorFlags::empty(),
        Some("gllmm decoder"),
    )
});

#[derive(Debug, Clone, Default)]
struct Settings {
    device: Device,
    threads: u32,
    model_dir: Option<String>,
}

#[derive(Default)]
struct State {
    /// Models by the name the streams give, loaded on first use.
    codecs: HashMap<String, Codec>,
    output: Option<(u32, u32, ColourLayout, i32, i32)>,
    input_fps: Option<gst::Fraction>,
}

#[derive(Default)]
pub struct GllmmDec {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for GllmmDec {
    const NAME: &'static str = "GstGllmmDec";
    type Type = super::GllmmDec;
    type ParentType = gst_video::VideoDecoder;
}

impl ObjectImpl for GllmmDec {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                crate::props::device_spec(),
                crate::props::threads_spec(),
                glib::ParamSpecString::builder("model-dir")
                    .nick("Model directory")
                    .blurb("Directory searched first for the model a stream names (default: the installed models)")
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "device" => s.device = value.get().expect("type checked upstream"),
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "model-dir" => s.model_dir = value.get().expect("type checked upstream"),
            _ => unreachable!("unknown property"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "device" => s.device.to_value(),
            "threads" => s.threads.to_value(),
            "model-dir" => s.model_dir.to_value(),
            _ => unreachable!("unknown property"),
        }
    }
}

impl GstObjectImpl for GllmmDec {}

impl ElementImpl for GllmmDec {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "gllmm decoder",
                "Codec/Decoder/Video",
                "Decodes gllmm learned-codec frames to raw RGB or gray pictures",
                "gllmm developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let max = gllmm::format::MAX_DIMENSION as i32;
            let sink_caps = gst::Caps::builder(crate::MEDIA_TYPE)
                .field("parsed", true)
                .build();
            let src_caps = gst_video::VideoCapsBuilder::new()
                .format_list([gst_video::VideoFormat::Rgb, gst_video::VideoFormat::Gray8])
                .width_range(1..=max)
                .height_range(1..=max)
                .build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink_caps,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &src_caps,
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl GllmmDec {
    /// Decodes one frame; also returns its header (the model name and frame rate
    /// come from it). `Codec::decode` checks the payload.
    fn decode(
        &self,
        st: &mut State,
        data: &[u8],
    ) -> Result<(gllmm::Image, gllmm::format::FrameHeader), String> {
        let (header, _) = gllmm::format::read_header(data).map_err(|e| e.to_string())?;
        let name = header.model_name.clone();
        if !st.codecs.contains_key(&name) {
            let s = self.settings.lock().unwrap().clone();
            let opts = crate::props::codec_options(s.device, s.threads);
            let from_dir = s
                .model_dir
                .as_ref()
                .map(|d| PathBuf::from(d).join(&name).join("model.safetensors"))
                .filter(|p| p.exists());
            let codec = match from_dir {
                Some(p) => Codec::load(&p, &opts),
                None => Codec::load_named(&name, &opts),
            }
            .map_err(|e| format!("the stream needs model {name:?}: {e}"))?;
            gst::info!(
                CAT,
                imp = self,
                "loaded model {} on {:?}",
                name,
                codec.device()
            );
            st.codecs.insert(name.clone(), codec);
        }
        let img = st.codecs[&name].decode(data).map_err(|e| e.to_string())?;
        Ok((img, header))
    }
}

impl VideoDecoderImpl for GllmmDec {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = Some(State::default());
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_format(
        &self,
        state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        if let Some(st) = self.state.lock().unwrap().as_mut() {
            st.input_fps = Some(state.info().fps());
            st.output = None;
        }
        self.parent_set_format(state)
    }

    fn handle_frame(
        &self,
        frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let input = frame.input_buffer_owned().ok_or(gst::FlowError::Error)?;
        let map = input.map_readable().map_err(|_| gst::FlowError::Error)?;
        let mut guard = self.state.lock().unwrap();
        let st = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let (img, header) = match self.decode(st, map.as_slice()) {
            Ok(r) => r,
            Err(e) => {
                drop(guard);
                gst::warning!(CAT, imp = self, "cannot decode frame: {}", e);
                // Counted against the base class's max-errors; drops the frame.
                let r = gst_video::video_decoder_error!(
                    self.obj(),
                    1,
                    gst::StreamError::Decode,
                    ("Cannot decode gllmm frame: {}", e)
                );
                let _ = self.obj().drop_frame(frame);
                return r;
            }
        };
        let (fps_n, fps_d) = (header.fps_n as i32, header.fps_d as i32);
        let want = (img.width, img.height, img.layout, fps_n, fps_d);
        if st.output != Some(want) {
            let format = match img.layout {
                ColourLayout::Rgb => gst_video::VideoFormat::Rgb,
                ColourLayout::Gray => gst_video::VideoFormat::Gray8,
            };
            gst::debug!(
                CAT,
                imp = self,
                "output {}x{} {:?}",
                img.width,
                img.height,
                format
            );
            // The input caps' frame rate wins; else the one the stream carries.
            let fps = match st.input_fps {
                Some(f) if f.numer() > 0 => f,
                _ if fps_n > 0 => gst::Fraction::new(fps_n, fps_d),
                _ => gst::Fraction::new(0, 1),
            };
            let info = gst_video::VideoInfo::builder(format, img.width, img.height)
                .fps(fps)
                .build()
                .map_err(|_| gst::FlowError::NotNegotiated)?;
            drop(guard);
            let obj = self.obj();
            let mut out = obj
                .set_output_state(format, img.width, img.height, None)
                .map_err(|_| gst::FlowError::NotNegotiated)?;
            out.set_info(info);
            obj.negotiate(out)
                .map_err(|_| gst::FlowError::NotNegotiated)?;
            guard = self.state.lock().unwrap();
            if let Some(st) = guard.as_mut() {
                st.output = Some(want);
            }
        }
        drop(guard);
        drop(map);
        let mut frame = frame;
        self.obj().allocate_output_frame(&mut frame, None)?;
        {
            let out = frame.output_buffer_mut().ok_or(gst::FlowError::Error)?;
            let state = self
                .obj()
                .output_state()
                .ok_or(gst::FlowError::NotNegotiated)?;
            let mut vf = gst_video::VideoFrameRef::from_buffer_ref_writable(out, state.info())
                .map_err(|_| gst::FlowError::Error)?;
            let stride = vf.plane_stride()[0] as usize;
            let row = img.width as usize * img.layout.channels();
            let dst = vf.plane_data_mut(0).map_err(|_| gst::FlowError::Error)?;
            for (y, src) in img.data.chunks_exact(row).enumerate() {
                dst[y * stride..y * stride + row].copy_from_slice(src);
            }
        }
        self.obj().finish_frame(frame)
    }
}
