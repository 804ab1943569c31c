// Shared by the core crate's and the plugin's build scripts (included, not a module).

/// Puts libtorch's directory into the rpath, so binaries and the plugin load without
/// `LD_LIBRARY_PATH` (else GStreamer blacklists the plugin in its registry), and keeps
/// libtorch_cuda linked despite `--as-needed` so CUDA is visible on GPU hosts.
fn emit_torch_rpath() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .ok()
        .or_else(|| std::env::var("LIBTORCH").ok().map(|p| format!("{p}/lib")));
    if let Some(lib) = lib {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
