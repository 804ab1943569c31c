//! `gllmmdec`: gllmm frames to raw RGB (or GRAY8) video frames.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct GllmmDec(ObjectSubclass<imp::GllmmDec>) @extends gst_video::VideoDecoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "gllmmdec",
        gst::Rank::PRIMARY,
        GllmmDec::static_type(),
    )
}
