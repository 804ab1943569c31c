//! `gllmmenc`: raw video frames to gllmm frames.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct GllmmEnc(ObjectSubclass<imp::GllmmEnc>) @extends gst_video::VideoEncoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "gllmmenc",
        gst::Rank::PRIMARY,
        GllmmEnc::static_type(),
    )
}
