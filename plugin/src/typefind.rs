//! Typefinder for `image/x-gllmm`: the magic bytes and a valid frame header.

use gllmm::format::{self, MAX_HEADER_LEN, PREFIX_LEN, Probe};
use gst::glib;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    let caps = gst::Caps::builder(crate::MEDIA_TYPE).build();
    gst::TypeFind::register(
        Some(plugin),
        "gllmm_typefind",
        gst::Rank::PRIMARY,
        Some("gllmm"),
        Some(&caps),
        |tf| {
            if let Some(p) = find(tf) {
                tf.suggest(p, &gst::Caps::builder(crate::MEDIA_TYPE).build());
            }
        },
    )
}

fn find(tf: &mut gst::TypeFind) -> Option<gst::TypeFindProbability> {
    let mut want = PREFIX_LEN;
    loop {
        let data = tf.peek(0, want as u32)?;
        match format::probe(data) {
            Probe::NotAFrame => return None,
            // A full, CRC-checked header: certain.
            Probe::Frame { .. } => return Some(gst::TypeFindProbability::Maximum),
            Probe::NeedMore(n) if want + n <= MAX_HEADER_LEN && data.len() >= want => want += n,
            Probe::NeedMore(_) => return Some(gst::TypeFindProbability::Likely),
        }
    }
}
