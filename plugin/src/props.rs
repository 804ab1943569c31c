//! Property types shared by the elements.

use gst::glib;
use gst::prelude::*;

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstGllmmDevice")]
pub enum Device {
    #[default]
    #[enum_value(name = "CUDA when available, else CPU", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu = 1,
    #[enum_value(name = "CUDA GPU", nick = "cuda")]
    Cuda = 2,
}

impl From<Device> for gllmm::DeviceChoice {
    fn from(d: Device) -> Self {
        match d {
            Device::Auto => gllmm::DeviceChoice::Auto,
            Device::Cpu => gllmm::DeviceChoice::Cpu,
            Device::Cuda => gllmm::DeviceChoice::Cuda,
        }
    }
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstGllmmContext")]
pub enum Context {
    #[default]
    #[enum_value(
        name = "Checkerboard: two passes, parallel decoding",
        nick = "checkerboard"
    )]
    Checkerboard = 0,
    #[enum_value(
        name = "Serial masked 5x5: best rate, slower decoding",
        nick = "serial"
    )]
    Serial = 1,
}

impl From<Context> for gllmm::ContextMode {
    fn from(c: Context) -> Self {
        match c {
            Context::Checkerboard => gllmm::ContextMode::Checkerboard,
            Context::Serial => gllmm::ContextMode::Serial,
        }
    }
}

pub const DEFAULT_THREADS: u32 = 0;

/// The codec options the elements' `device` and `threads` properties select.
pub fn codec_options(device: Device, threads: u32) -> gllmm::CodecOptions {
    gllmm::CodecOptions {
        device: device.into(),
        threads: threads as usize,
        ..Default::default()
    }
}

/// The `device` property both codec elements share.
pub fn device_spec() -> glib::ParamSpec {
    glib::ParamSpecEnum::builder_with_default("device", Device::Auto)
        .nick("Device")
        .blurb("Where the neural transforms run")
        .mutable_ready()
        .build()
}

/// The `threads` property both codec elements share.
pub fn threads_spec() -> glib::ParamSpec {
    glib::ParamSpecUInt::builder("threads")
        .nick("Threads")
        .blurb("CPU threads for the transforms (0: libtorch's default)")
        .maximum(256)
        .default_value(DEFAULT_THREADS)
        .mutable_ready()
        .build()
}
