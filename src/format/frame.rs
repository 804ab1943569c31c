//! Frame header and sections: writer and validating reader.

use super::{
    FormatError, MAGIC, MAX_DIMENSION, MAX_HEADER_LEN, MAX_NAME_LEN, MAX_SECTIONS, PREFIX_LEN,
    VERSION, max_payload,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourLayout {
    Rgb = 0,
    Gray = 1,
}

/// How the y latents' context is formed; the decoder must use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextMode {
    /// Two passes over a checkerboard: parallel decoding.
    #[default]
    Checkerboard = 0,
    /// Masked 5×5 context in raster order: best rate, serial decoding.
    Serial = 1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// Hyper-latent z.
    Z,
    /// Latent y.
    Y,
    /// A section this version does not know; skipped by the decoder.
    Other(u8),
}

impl SectionKind {
    fn code(self) -> u8 {
        match self {
            SectionKind::Z => 1,
            SectionKind::Y => 2,
            SectionKind::Other(c) => c,
        }
    }
    fn from_code(c: u8) -> Self {
        match c {
            1 => SectionKind::Z,
            2 => SectionKind::Y,
            c => SectionKind::Other(c),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub kind: SectionKind,
    pub len: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FrameHeader {
    pub colour: ColourLayout,
    pub context: ContextMode,
    pub quality: f32,
    pub width: u32,
    pub height: u32,
    /// Frame rate of the stream as num/den; 0/1 when unknown (a still image).
    pub fps_n: u32,
    pub fps_d: u32,
    pub latent_crc: u32,
    pub model_hash: [u8; 16],
    pub model_name: String,
    /// Filled in by [`write_frame`] from the payloads it is given.
    pub sections: Vec<Section>,
}

impl FrameHeader {
    pub fn payload_len(&self) -> u64 {
        self.sections.iter().map(|s| u64::from(s.len)).sum()
    }

    fn validate(&self) -> Result<(), FormatError> {
        if !(1..=MAX_DIMENSION).contains(&self.width) || !(1..=MAX_DIMENSION).contains(&self.height)
        {
            return Err(FormatError::BadDimensions {
                width: self.width,
                height: self.height,
            });
        }
        if !self.quality.is_finite() || !(0.0..=100.0).contains(&self.quality) {
            return Err(FormatError::Invalid("quality outside 0..=100"));
        }
        if self.fps_d == 0 {
            return Err(FormatError::Invalid("frame rate denominator is zero"));
        }
        if self.model_name.len() > MAX_NAME_LEN {
            return Err(FormatError::Invalid("model name too long"));
        }
        if self.sections.len() > MAX_SECTIONS {
            return Err(FormatError::Invalid("too many sections"));
        }
        let limit = max_payload(self.width, self.height);
        let len = self.payload_len();
        if len > limit {
            return Err(FormatError::SectionTooLarge { len, limit });
        }
        Ok(())
    }
}

/// A parsed frame borrowing its payload.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    pub header: FrameHeader,
    pub payloads: Vec<&'a [u8]>,
}

impl<'a> Frame<'a> {
    /// The first section of `kind`.
    pub fn section(&self, kind: SectionKind) -> Option<&'a [u8]> {
        self.header
            .sections
            .iter()
            .position(|s| s.kind == kind)
            .map(|i| self.payloads[i])
    }
}

/// Serialises a frame; `header.sections` is replaced by the given payloads' kinds and lengths.
pub fn write_frame(
    header: &FrameHeader,
    payloads: &[(SectionKind, &[u8])],
) -> Result<Vec<u8>, FormatError> {
    let mut h = header.clone();
    h.sections = payloads
        .iter()
        .map(|(k, p)| {
            u32::try_from(p.len())
                .map(|len| Section { kind: *k, len })
                .map_err(|_| FormatError::SectionTooLarge {
                    len: p.len() as u64,
                    limit: u64::from(u32::MAX),
                })
        })
        .collect::<Result<_, _>>()?;
    h.validate()?;
    let hlen = PREFIX_LEN
        + 1
        + 1
        + 4
        + 8
        + 8
        + 4
        + 16
        + 1
        + h.model_name.len()
        + 1
        + 5 * h.sections.len()
        + 4;
    let mut out = Vec::with_capacity(hlen + h.payload_len() as usize + 4);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(hlen as u16).to_le_bytes());
    out.push(h.colour as u8);
    out.push(h.context as u8);
    out.extend_from_slice(&h.quality.to_le_bytes());
    out.extend_from_slice(&h.width.to_le_bytes());
    out.extend_from_slice(&h.height.to_le_bytes());
    out.extend_from_slice(&h.fps_n.to_le_bytes());
    out.extend_from_slice(&h.fps_d.to_le_bytes());
    out.extend_from_slice(&h.latent_crc.to_le_bytes());
    out.extend_from_slice(&h.model_hash);
    out.push(h.model_name.len() as u8);
    out.extend_from_slice(h.model_name.as_bytes());
    out.push(h.sections.len() as u8);
    for s in &h.sections {
        out.push(s.kind.code());
        out.extend_from_slice(&s.len.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(out.len(), hlen);
    let mut hasher = crc32fast::Hasher::new();
    for (_, p) in payloads {
        out.extend_from_slice(p);
        hasher.update(p);
    }
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    Ok(out)
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(e) => {
                let s = &self.buf[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => Err(FormatError::Invalid(
                "header fields overrun the header length",
            )),
        }
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
}

/// Parses and validates the header at the start of `buf` (the payload is not
/// checked); returns it and its length.
pub fn read_header(buf: &[u8]) -> Result<(FrameHeader, usize), FormatError> {
    if buf.len() < PREFIX_LEN {
        if buf[..buf.len().min(4)] != MAGIC[..buf.len().min(4)] {
            return Err(FormatError::BadMagic);
        }
        return Err(FormatError::Truncated {
            needed: PREFIX_LEN - buf.len(),
        });
    }
    if buf[..4] != MAGIC {
        return Err(FormatError::BadMagic);
    }
    if buf[4] != VERSION {
        return Err(FormatError::UnsupportedVersion(buf[4]));
    }
    let hlen = usize::from(u16::from_le_bytes([buf[5], buf[6]]));
    if !(PREFIX_LEN + 44 + 4..=MAX_HEADER_LEN).contains(&hlen) {
        return Err(FormatError::Invalid("header length out of range"));
    }
    if buf.len() < hlen {
        return Err(FormatError::Truncated {
            needed: hlen - buf.len(),
        });
    }
    let stored = u32::from_le_bytes(buf[hlen - 4..hlen].try_into().unwrap());
    if crc32fast::hash(&buf[..hlen - 4]) != stored {
        return Err(FormatError::HeaderCrc);
    }
    let mut c = Cursor {
        buf: &buf[..hlen - 4],
        pos: PREFIX_LEN,
    };
    let colour = match c.u8()? {
        0 => ColourLayout::Rgb,
        1 => ColourLayout::Gray,
        _ => return Err(FormatError::Invalid("unknown colour layout")),
    };
    let context = match c.u8()? {
        0 => ContextMode::Checkerboard,
        1 => ContextMode::Serial,
        _ => return Err(FormatError::Invalid("unknown context mode")),
    };
    let quality = f32::from_le_bytes(c.take(4)?.try_into().unwrap());
    let width = c.u32()?;
    let height = c.u32()?;
    let fps_n = c.u32()?;
    let fps_d = c.u32()?;
    let latent_crc = c.u32()?;
    let model_hash: [u8; 16] = c.take(16)?.try_into().unwrap();
    let name_len = usize::from(c.u8()?);
    if name_len > MAX_NAME_LEN {
        return Err(FormatError::Invalid("model name too long"));
    }
    let model_name = std::str::from_utf8(c.take(name_len)?)
        .map_err(|_| FormatError::Invalid("model name is not UTF-8"))?
        .to_owned();
    let n = usize::from(c.u8()?);
    if n > MAX_SECTIONS {
        return Err(FormatError::Invalid("too many sections"));
    }
    let mut sections = Vec::with_capacity(n);
    for _ in 0..n {
        let kind = SectionKind::from_code(c.u8()?);
        sections.push(Section {
            kind,
            len: c.u32()?,
        });
    }
    if c.pos != hlen - 4 {
        return Err(FormatError::Invalid(
            "header length does not match its fields",
        ));
    }
    let h = FrameHeader {
        colour,
        context,
        quality,
        width,
        height,
        fps_n,
        fps_d,
        latent_crc,
        model_hash,
        model_name,
        sections,
    };
    h.validate()?;
    Ok((h, hlen))
}

/// Reads one frame from the start of `buf`; returns it and the bytes it used.
pub fn read_frame(buf: &[u8]) -> Result<(Frame<'_>, usize), FormatError> {
    if buf.is_empty() {
        return Err(FormatError::Truncated { needed: PREFIX_LEN });
    }
    let (header, hlen) = read_header(buf)?;
    let total = hlen + header.payload_len() as usize + 4;
    if buf.len() < total {
        return Err(FormatError::Truncated {
            needed: total - buf.len(),
        });
    }
    let payload = &buf[hlen..total - 4];
    let stored = u32::from_le_bytes(buf[total - 4..total].try_into().unwrap());
    if crc32fast::hash(payload) != stored {
        return Err(FormatError::PayloadCrc);
    }
    let mut payloads = Vec::with_capacity(header.sections.len());
    let mut pos = 0;
    for s in &header.sections {
        payloads.push(&payload[pos..pos + s.len as usize]);
        pos += s.len as usize;
    }
    Ok((Frame { header, payloads }, total))
}

#[cfg(test)]
mod tests {
    use super::super::{Probe, probe};
    use super::*;
    use proptest::prelude::*;

    fn arb_header() -> impl Strategy<Value = FrameHeader> {
        (
            any::<bool>(),
            any::<bool>(),
            0.0f32..=100.0,
            1u32..=MAX_DIMENSION,
            1u32..=MAX_DIMENSION,
            any::<u32>(),
            any::<[u8; 16]>(),
            "[a-z0-9_.-]{0,64}",
            (any::<u32>(), 1u32..),
        )
            .prop_map(
                |(
                    g,
                    s,
                    quality,
                    width,
                    height,
                    latent_crc,
                    model_hash,
                    model_name,
                    (fps_n, fps_d),
                )| FrameHeader {
                    colour: if g {
                        ColourLayout::Gray
                    } else {
                        ColourLayout::Rgb
                    },
                    context: if s {
                        ContextMode::Serial
                    } else {
                        ContextMode::Checkerboard
                    },
                    quality,
                    width,
                    height,
                    fps_n,
                    fps_d,
                    latent_crc,
                    model_hash,
                    model_name,
                    sections: vec![],
                },
            )
    }

    proptest! {
        #[test]
        fn frame_round_trips(h in arb_header(), z in prop::collection::vec(any::<u8>(), 0..300),
                             y in prop::collection::vec(any::<u8>(), 0..3000), extra in any::<u8>()) {
            let kinds = [(SectionKind::Z, &z[..]), (SectionKind::Y, &y[..]), (SectionKind::Other(extra.max(3)), &z[..1.min(z.len())])];
            let bytes = write_frame(&h, &kinds).unwrap();
            let mut with_tail = bytes.clone();
            with_tail.extend_from_slice(b"trailing");
            let (f, used) = read_frame(&with_tail).unwrap();
            prop_assert_eq!(used, bytes.len());
            let probed = probe(&with_tail);
            let agrees = matches!(&probed, Probe::Frame { len, header } if *len == bytes.len() && *header == f.header);
            prop_assert!(agrees, "probe gave {:?}", probed);
            let mut expect = h.clone();
            expect.sections = f.header.sections.clone();
            prop_assert_eq!(&f.header, &expect);
            prop_assert_eq!(f.section(SectionKind::Z).unwrap(), &z[..]);
            prop_assert_eq!(f.section(SectionKind::Y).unwrap(), &y[..]);
            for cut in [0, 1, 3, 6, 7, 20, bytes.len() / 2, bytes.len() - 1] {
                let r = read_frame(&bytes[..cut.min(bytes.len() - 1)]);
                prop_assert!(matches!(r, Err(FormatError::Truncated { .. })), "cut {}: {:?}", cut, r);
                let probed = probe(&bytes[..cut]);
                prop_assert!(matches!(probed, Probe::NeedMore(_) | Probe::Frame { .. }), "cut {}: {:?}", cut, probed);
            }
        }

        #[test]
        fn flipped_bits_are_errors(h in arb_header(), y in prop::collection::vec(any::<u8>(), 1..500), bit in any::<prop::sample::Index>()) {
            let mut bytes = write_frame(&h, &[(SectionKind::Y, &y[..])]).unwrap();
            let b = bit.index(bytes.len() * 8);
            bytes[b / 8] ^= 1 << (b % 8);
            prop_assert!(read_frame(&bytes).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut d = data.clone();
            if d.len() >= 4 { d[..4].copy_from_slice(&MAGIC); }
            let _ = read_frame(&d);
            let _ = probe(&d);
            let _ = read_frame(&data);
        }
    }

    #[test]
    fn absurd_lengths_are_rejected_before_allocating() {
        let h = FrameHeader {
            colour: ColourLayout::Rgb,
            context: ContextMode::Checkerboard,
            quality: 50.0,
            width: 2,
            height: 2,
            fps_n: 0,
            fps_d: 1,
            latent_crc: 0,
            model_hash: [0; 16],
            model_name: "m".into(),
            sections: vec![],
        };
        let mut bytes = write_frame(&h, &[(SectionKind::Y, &[1, 2, 3])]).unwrap();
        // Forge a 4 GiB section length and re-seal the header CRC.
        let hlen = usize::from(u16::from_le_bytes([bytes[5], bytes[6]]));
        bytes[hlen - 8..hlen - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..hlen - 4]);
        bytes[hlen - 4..hlen].copy_from_slice(&crc.to_le_bytes());
        let r = read_frame(&bytes);
        assert!(
            matches!(r, Err(FormatError::SectionTooLarge { .. })),
            "{r:?}"
        );
        assert_eq!(probe(&bytes), Probe::NotAFrame);
        let big = FrameHeader {
            width: MAX_DIMENSION + 1,
            ..h.clone()
        };
        assert!(matches!(
            write_frame(&big, &[]),
            Err(FormatError::BadDimensions { .. })
        ));
        let zero = FrameHeader { width: 0, ..h };
        assert!(write_frame(&zero, &[]).is_err());
        assert_eq!(
            read_frame(&[]).unwrap_err(),
            FormatError::Truncated { needed: PREFIX_LEN }
        );
        assert_eq!(probe(b"RIFF1234"), Probe::NotAFrame);
        assert_eq!(probe(b"GL"), Probe::NeedMore(5));
    }
}
