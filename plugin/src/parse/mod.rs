//! `gllmmparse`: splits a gllmm byte stream into whole frames.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct GllmmParse(ObjectSubclass<imp::GllmmParse>) @extends gst_base::BaseParse, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "gllmmparse",
        gst::Rank::PRIMARY,
        GllmmParse::static_type(),
    )
}
