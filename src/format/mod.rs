//! The `image/x-gllmm` bitstream: a sequence of self-delimiting frames.
//!
//! Frame layout (little-endian), version 1:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `GLMM` |
//! | 1 | format version |
//! | 2 | header length (magic through header CRC) |
//! | 1 | colour layout (0 RGB, 1 gray) |
//! | 1 | context mode (0 checkerboard, 1 serial) |
//! | 4 | quality (f32) |
//! | 4 + 4 | width, height |
//! | 4 + 4 | frame rate num/den (0/1: unknown) |
//! | 4 | CRC-32 of the decoded latents (z then y, as i32 LE) |
//! | 16 | model hash |
//! | 1 + n | model name |
//! | 1 + 5·k | section count, then (kind u8, length u32) per section |
//! | 4 | CRC-32 of the header |
//! | Σ | section payloads |
//! | 4 | CRC-32 of the payload |
//!
//! A parser finds frame boundaries from the header alone ([`probe`]).

mod frame;

pub use frame::{
    ColourLayout, ContextMode, Frame, FrameHeader, Section, SectionKind, read_frame, read_header,
    write_frame,
};

pub const MAGIC: [u8; 4] = *b"GLMM";
pub const VERSION: u8 = 1;
/// Bytes needed to learn the header length.
pub const PREFIX_LEN: usize = 7;
pub const MAX_HEADER_LEN: usize = 512;
pub const MAX_DIMENSION: u32 = 16384;
pub const MAX_SECTIONS: usize = 8;
pub const MAX_NAME_LEN: usize = 64;

/// Largest payload a frame of `width`×`height` may carry: 32 bits per pixel, more
/// than raw RGB and far above any real stream, low enough that a forged length cannot make us allocate gigabytes.
pub fn max_payload(width: u32, height: u32) -> u64 {
    65536 + u64::from(width) * u64::from(height) * 4
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("not a gllmm frame (bad magic bytes)")]
    BadMagic,
    #[error("unsupported gllmm format version {0} (this build reads version {VERSION})")]
    UnsupportedVersion(u8),
    #[error("frame truncated: {needed} more bytes needed")]
    Truncated { needed: usize },
    #[error("frame header is corrupt (CRC mismatch)")]
    HeaderCrc,
    #[error("frame payload is corrupt (CRC mismatch)")]
    PayloadCrc,
    #[error("invalid frame header: {0}")]
    Invalid(&'static str),
    #[error("image dimensions {width}x{height} outside 1..={MAX_DIMENSION}")]
    BadDimensions { width: u32, height: u32 },
    #[error("section length {len} exceeds the limit {limit} for this image size")]
    SectionTooLarge { len: u64, limit: u64 },
}

/// What a byte prefix holds, for parsers and typefinders.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// Looks like a frame so far; at least this many more bytes are needed to know its length.
    NeedMore(usize),
    /// A frame with a valid header starts here and is `len` bytes long in total; the parsed
    /// header comes along so that a parser need not read it twice.
    Frame { len: usize, header: FrameHeader },
    /// No frame starts at this byte.
    NotAFrame,
}

/// Classifies the bytes at the start of `buf`; allocates only once a header's CRC checks out.
pub fn probe(buf: &[u8]) -> Probe {
    let n = buf.len().min(MAGIC.len());
    if buf[..n] != MAGIC[..n] {
        return Probe::NotAFrame;
    }
    if buf.len() < PREFIX_LEN {
        return Probe::NeedMore(PREFIX_LEN - buf.len());
    }
    match frame::read_header(buf) {
        Ok((header, hlen)) => Probe::Frame {
            len: hlen + header.payload_len() as usize + 4,
            header,
        },
        Err(FormatError::Truncated { needed }) => Probe::NeedMore(needed),
        Err(_) => Probe::NotAFrame,
    }
}
