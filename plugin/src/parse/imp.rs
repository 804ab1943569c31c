use gllmm::format::{self, MAGIC, PREFIX_LEN, Probe};
use gst::glib;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "gllmmparse",
        gst::DebugColorFlags::empty(),
        Some("gllmm parser"),
    )
});

#[derive(Default)]
struct State {
    /// (width, height, fps_n, fps_d) of the caps last sent downstream.
    caps: Option<(u32, u32, u32, u32)>,
}

#[derive(Default)]
pub struct GllmmParse {
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for GllmmParse {
    const NAME: &'static str = "GstGllmmParse";
    type Type = super::GllmmParse;
    type ParentType = gst_base::BaseParse;
}

impl ObjectImpl for GllmmParse {}
impl GstObjectImpl for GllmmParse {}

impl ElementImpl for GllmmParse {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "gllmm parser",
                "Codec/Parser/Video",
                "Splits gllmm streams into frames, resynchronising after garbage",
                "gllmm developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink_caps = gst::Caps::builder(crate::MEDIA_TYPE).build();
            let max = format::MAX_DIMENSION as i32;
            let src_caps = gst::Caps::builder(crate::MEDIA_TYPE)
                .field("width", gst::IntRange::new(1, max))
                .field("height", gst::IntRange::new(1, max))
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

/// Offset of the first possible frame start (the magic, or a prefix of it at the end).
fn find_magic(data: &[u8]) -> usize {
    (0..data.len())
        .find(|&i| {
            let n = (data.len() - i).min(MAGIC.len());
            data[i..i + n] == MAGIC[..n]
        })
        .unwrap_or(data.len())
}

impl BaseParseImpl for GllmmParse {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        let obj = self.obj();
        obj.set_min_frame_size(PREFIX_LEN as u32);
        obj.set_pts_interpolation(true);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        Ok(())
    }

    fn handle_frame(
        &self,
        mut frame: gst_base::BaseParseFrame,
    ) -> Result<(gst::FlowSuccess, u32), gst::FlowError> {
        let buffer = frame.buffer().ok_or(gst::FlowError::Error)?;
        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
        let data = map.as_slice();
        let start = find_magic(data);
        if start > 0 {
            gst::debug!(CAT, imp = self, "skipping {} bytes of garbage", start);
            return Ok((gst::FlowSuccess::Ok, start as u32));
        }
        match format::probe(data) {
            Probe::NeedMore(n) => {
                self.obj().set_min_frame_size((data.len() + n) as u32);
                Ok((gst::FlowSuccess::Ok, 0))
            }
            Probe::NotAFrame => {
                gst::debug!(CAT, imp = self, "magic without a valid header, resyncing");
                self.obj().set_min_frame_size(PREFIX_LEN as u32);
                Ok((gst::FlowSuccess::Ok, 1))
            }
            Probe::Frame { len, .. } if data.len() < len => {
                self.obj().set_min_frame_size(len as u32);
                Ok((gst::FlowSuccess::Ok, 0))
            }
            // Payload damage is the decoder's to report: the parser needs the header only.
            Probe::Frame { len, header: h } => {
                drop(map);
                let key = (h.width, h.height, h.fps_n, h.fps_d);
                let mut st = self.state.lock().unwrap();
                if st.caps != Some(key) {
                    let mut caps = gst::Caps::builder(crate::MEDIA_TYPE)
                        .field("width", h.width as i32)
                        .field("height", h.height as i32)
                        .field("parsed", true);
                    if h.fps_n > 0 {
                        caps = caps.field(
                            "framerate",
                            gst::Fraction::new(h.fps_n as i32, h.fps_d as i32),
                        );
                        self.obj().set_frame_rate(
                            gst::Fraction::new(h.fps_n as i32, h.fps_d as i32),
                            0,
                            0,
                        );
                    }
                    let caps = caps.build();
                    gst::debug!(CAT, imp = self, "caps {:?}", caps);
                    self.obj()
                        .src_pad()
                        .push_event(gst::event::Caps::new(&caps));
                    if st.caps.is_none() {
                        let mut tags = gst::TagList::new();
                        tags.get_mut()
                            .expect("new tag list is writable")
                            .add::<gst::tags::VideoCodec>(
                                &"gllmm learned image codec",
                                gst::TagMergeMode::Replace,
                            );
                        self.obj().src_pad().push_event(gst::event::Tag::new(tags));
                    }
                    st.caps = Some(key);
                }
                drop(st);
                self.obj().set_min_frame_size(PREFIX_LEN as u32);
                if let Some(b) = frame.buffer_mut() {
                    b.unset_flags(gst::BufferFlags::DELTA_UNIT);
                }
                self.obj().finish_frame(frame, len as u32)?;
                Ok((gst::FlowSuccess::Ok, 0))
            }
        }
    }
}
