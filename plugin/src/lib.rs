//! GStreamer elements for the gllmm learned image codec: `gllmmenc`, `gllmmdec`,
//! `gllmmparse` and a typefinder for `image/x-gllmm`. Thin glue: all coding is
//! done by the `gllmm` crate.

use gst::glib;

mod dec;
mod enc;
mod parse;
mod props;
mod typefind;

/// The media type of gllmm streams.
pub const MEDIA_TYPE: &str = "image/x-gllmm";

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    enc::register(plugin)?;
    dec::register(plugin)?;
    parse::register(plugin)?;
    typefind::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    gllmm,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
