use crate::props::{Context, DEFAULT_THREADS, Device};
use gllmm::{Codec, ColourLayout, EncodeOptions, Image};
use gst::glib;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "gllmmenc",
        gst::DebugColorFlags::empty(),
        Some("gllmm encoder"),
    )
});

const DEFAULT_QUALITY: f64 = 50.0;

#[derive(Debug, Clone)]
struct Settings {
    quality: f64,
    model: String,
    device: Device,
    threads: u32,
    context: Context,
    refine: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            quality: DEFAULT_QUALITY,
            model: gllmm::codec::DEFAULT_MODEL.into(),
            device: Device::Auto,
            threads: DEFAULT_THREADS,
            context: Context::Checkerboard,
            refine: 0,
        }
    }
}

struct State {
    codec: Codec,
    info: Option<gst_video::VideoInfo>,
    warned_alpha: bool,
}

#[derive(Default)]
pub struct GllmmEnc {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for GllmmEnc {
    const NAME: &'static str = "GstGllmmEnc";
    type Type = super::GllmmEnc;
    type ParentType = gst_video::VideoEncoder;
}

impl ObjectImpl for GllmmEnc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecDouble::builder("quality")
                    .nick("Quality")
                    .blurb("Quality 0..100, continuous; higher means more bits (50 is about 0.3-0.5 bpp on photographs)")
                    .minimum(0.0)
                    .maximum(100.0)
                    .default_value(DEFAULT_QUALITY)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("Name of an installed model, or path to a .safetensors model file")
                    .default_value(Some(gllmm::codec::DEFAULT_MODEL))
                    .mutable_ready()
                    .build(),
                crate::props::device_spec(),
                crate::props::threads_spec(),
                glib::ParamSpecEnum::builder_with_default("context", Context::Checkerboard)
                    .nick("Context model")
                    .blurb("Latent context model written into the stream")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("refine")
                    .nick("Refinement steps")
                    .blurb("Gradient steps refining each picture's latents (0: off): fewer bits for the same quality, at a large cost in encoding time only")
                    .maximum(gllmm::model::refine::MAX_ITERATIONS)
                    .default_value(0)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "quality" => s.quality = value.get().expect("type checked upstream"),
            "model" => {
                s.model = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| gllmm::codec::DEFAULT_MODEL.into())
            }
            "device" => s.device = value.get().expect("type checked upstream"),
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "context" => s.context = value.get().expect("type checked upstream"),
            "refine" => s.refine = value.get().expect("type checked upstream"),
            _ => unreachable!("unknown property"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "quality" => s.quality.to_value(),
            "model" => s.model.to_value(),
            "device" => s.device.to_value(),
            "threads" => s.threads.to_value(),
            "context" => s.context.to_value(),
            "refine" => s.refine.to_value(),
            _ => unreachable!("unknown property"),
        }
    }
}

impl GstObjectImpl for GllmmEnc {}

impl ElementImpl for GllmmEnc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "gllmm encoder",
                "Codec/Encoder/Video",
                "Encodes raw pictures with the gllmm learned image codec (GLLMM entropy model)",
                "gllmm developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let max = gllmm::format::MAX_DIMENSION as i32;
            let sink_caps = gst_video::VideoCapsBuilder::new()
                .format_list([
                    gst_video::VideoFormat::Rgb,
                    gst_video::VideoFormat::Rgbx,
                    gst_video::VideoFormat::Bgrx,
                    gst_video::VideoFormat::Rgba,
                    gst_video::VideoFormat::Bgra,
                    gst_video::VideoFormat::Gray8,
                    gst_video::VideoFormat::Gray16Be,
                    gst_video::VideoFormat::Argb64,
                ])
                .width_range(1..=max)
                .height_range(1..=max)
                .build();
            let src_caps = gst::Caps::builder(crate::MEDIA_TYPE)
                .field("parsed", true)
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

/// Converts one mapped frame of any accepted format to an 8-bit RGB or gray [`Image`].
fn to_image(frame: &gst_video::VideoFrameRef<&gst::BufferRef>) -> Result<(Image, bool), String> {
    use gst_video::VideoFormat as F;
    let (w, h) = (frame.width(), frame.height());
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).map_err(|e| e.to_string())?;
    let row = |y: u32| &data[y as usize * stride..];
    let scale16 = |v: u16| ((u32::from(v) * 255 + 32767) / 65535) as u8;
    let mut out = Vec::new();
    let format = frame.format();
    let gray = matches!(format, F::Gray8 | F::Gray16Be);
    for y in 0..h {
        let r = row(y);
        for x in 0..w as usize {
            match format {
                F::Rgb => out.extend_from_slice(&r[x * 3..x * 3 + 3]),
                F::Rgbx | F::Rgba => out.extend_from_slice(&r[x * 4..x * 4 + 3]),
                F::Bgrx | F::Bgra => out.extend_from_slice(&[r[x * 4 + 2], r[x * 4 + 1], r[x * 4]]),
                F::Gray8 => out.push(r[x]),
                F::Gray16Be => out.push(scale16(u16::from_be_bytes([r[x * 2], r[x * 2 + 1]]))),
                F::Argb64 => {
                    let c = |i: usize| u16::from_ne_bytes([r[x * 8 + i * 2], r[x * 8 + i * 2 + 1]]);
                    out.extend_from_slice(&[scale16(c(1)), scale16(c(2)), scale16(c(3))]);
                }
                f => return Err(format!("unsupported format {f:?}")),
            }
        }
    }
    let layout = if gray {
        ColourLayout::Gray
    } else {
        ColourLayout::Rgb
    };
    let alpha = matches!(format, F::Rgba | F::Bgra | F::Argb64);
    Image::new(w, h, layout, out)
        .map(|i| (i, alpha))
        .map_err(|e| e.to_string())
}

impl VideoEncoderImpl for GllmmEnc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let opts = crate::props::codec_options(s.device, s.threads);
        let codec = Codec::load_named(&s.model, &opts).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::OpenRead,
                ["Cannot load gllmm model {:?}: {}", s.model, e]
            )
        })?;
        gst::info!(
            CAT,
            imp = self,
            "loaded model {} on {:?}",
            codec.name(),
            codec.device()
        );
        *self.state.lock().unwrap() = Some(State {
            codec,
            info: None,
            warned_alpha: false,
        });
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
        let info = state.info().clone();
        gst::debug!(CAT, imp = self, "input format {:?}", info);
        let caps = gst::Caps::builder(crate::MEDIA_TYPE)
            .field("width", info.width() as i32)
            .field("height", info.height() as i32)
            .field("framerate", info.fps())
            .field("parsed", true)
            .build();
        {
            let mut st = self.state.lock().unwrap();
            let st = st
                .as_mut()
                .ok_or_else(|| gst::loggable_error!(CAT, "encoder not started"))?;
            st.info = Some(info);
        }
        let obj = self.obj();
        let out = obj
            .set_output_state(caps, Some(state))
            .map_err(|_| gst::loggable_error!(CAT, "failed to set output state"))?;
        obj.negotiate(out)
            .map_err(|_| gst::loggable_error!(CAT, "negotiation failed"))?;
        self.parent_set_format(state)
    }

    fn handle_frame(
        &self,
        mut frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut guard = self.state.lock().unwrap();
        let st = guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
        let info = st.info.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
        let input = frame.input_buffer_owned().ok_or(gst::FlowError::Error)?;
        let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(input.as_ref(), info)
            .map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Failed,
                    ["Failed to map input frame"]
                );
                gst::FlowError::Error
            })?;
        let (img, alpha) = to_image(&vframe).map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ["Cannot read input frame: {}", e]
            );
            gst::FlowError::Error
        })?;
        if alpha && !st.warned_alpha {
            st.warned_alpha = true;
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                ["The alpha channel is dropped: gllmm codes RGB and gray pictures only"]
            );
        }
        let fps = info.fps();
        let opts = EncodeOptions {
            quality: settings.quality,
            context: settings.context.into(),
            framerate: if fps.numer() > 0 {
                (fps.numer() as u32, fps.denom() as u32)
            } else {
                (0, 1)
            },
            refine: settings.refine,
        };
        let bytes = st.codec.encode(&img, &opts).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Encode, ["Encoding failed: {}", e]);
            gst::FlowError::Error
        })?;
        drop(vframe);
        drop(guard);
        frame.set_output_buffer(gst::Buffer::from_mut_slice(bytes));
        // Intra-only codec: every frame is a sync point.
        frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
        self.obj().finish_frame(frame)
    }
}
