//! Plugin version info for GStreamer, and libtorch's directory in the cdylib's rpath.

include!("../build_support/torch_rpath.rs");

fn main() {
    gst_plugin_version_helper::info();
    emit_torch_rpath();
}
