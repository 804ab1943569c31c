//! libtorch's directory in the binaries' rpath (see build_support/torch_rpath.rs).

include!("build_support/torch_rpath.rs");

fn main() {
    emit_torch_rpath();
}
