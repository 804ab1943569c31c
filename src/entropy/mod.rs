//! Entropy coding: pure Rust, no tch, deterministic integer arithmetic.
//!
//! A [`SymbolModel`] describes one symbol's distribution as integer cumulative
//! frequencies over a coded range `[lo, lo + len)` plus an escape interval; values
//! outside the range are sent as the escape followed by an Exp-Golomb code.

pub mod detmath;
pub mod factorized;
pub mod mixture;
pub mod range_coder;

pub use range_coder::{Decoder, Encoder, PRECISION, TOTAL};

/// Largest absolute latent value the codec will code.
pub const VALUE_LIMIT: i32 = 1 << 15;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntropyError {
    #[error("entropy-coded data ended early (truncated or corrupt)")]
    Truncated,
    #[error("escape code out of range (corrupt data)")]
    BadEscape,
    #[error("latent value {0} outside the codable range")]
    ValueOutOfRange(i64),
    #[error("invalid entropy model parameters: {0}")]
    BadModel(&'static str),
}

/// A discrete distribution over the integers as seen by the coder.
#[allow(clippy::len_without_is_empty)]
pub trait SymbolModel {
    /// First value of the coded range.
    fn lo(&self) -> i32;
    /// Number of values in the coded range (at least 1).
    fn len(&self) -> u32;
    /// Cumulative frequency of the `i`-th value, for `i` in `0..=len()`;
    /// `cum(0) == 0`, strictly increasing, `cum(len()) < TOTAL` (the escape takes the rest).
    fn cum(&self, i: u32) -> u32;
    /// Index where the decoder starts searching (the likeliest value, if known).
    fn start(&self) -> u32 {
        self.len() / 2
    }
}

/// Codes `value` under `model`, escaping it when it lies outside the coded range.
pub fn encode_symbol<M: SymbolModel>(
    enc: &mut Encoder,
    model: &M,
    value: i32,
) -> Result<(), EntropyError> {
    if value.unsigned_abs() > VALUE_LIMIT as u32 {
        return Err(EntropyError::ValueOutOfRange(value.into()));
    }
    let lo = model.lo();
    let len = model.len();
    let i = i64::from(value) - i64::from(lo);
    if (0..i64::from(len)).contains(&i) {
        let i = i as u32;
        let c = model.cum(i);
        enc.encode(c, model.cum(i + 1) - c);
    } else {
        let c = model.cum(len);
        enc.encode(c, TOTAL - c);
        let hi = i64::from(lo) + i64::from(len) - 1;
        let v = if i < 0 {
            2 * (i64::from(lo) - 1 - i64::from(value))
        } else {
            2 * (i64::from(value) - hi - 1) + 1
        };
        enc.encode_golomb(v as u32);
    }
    Ok(())
}

/// Decodes one value under `model` (binary search on the cumulative frequencies).
pub fn decode_symbol<M: SymbolModel>(dec: &mut Decoder, model: &M) -> Result<i32, EntropyError> {
    let len = model.len();
    let target = dec.target();
    // Index `len` stands for the escape, whose interval ends at TOTAL; it is only
    // evaluated when the search reaches it. Gallop outwards from the likeliest value
    // to bracket the target, then bisect. Invariant: cum(a) <= target < cum(b).
    let (mut a, mut b) = (0u32, len + 1);
    let (mut ca, mut cb) = (0u32, TOTAL);
    let s = model.start().min(len - 1);
    let cs = model.cum(s);
    if cs <= target {
        (a, ca) = (s, cs);
        let mut step = 1;
        while a + step < b {
            let c = model.cum(a + step);
            if c > target {
                (b, cb) = (a + step, c);
                break;
            }
            (a, ca) = (a + step, c);
            step *= 2;
        }
    } else {
        (b, cb) = (s, cs);
        let mut step = 1;
        while b > a + step {
            let c = model.cum(b - step);
            if c <= target {
                (a, ca) = (b - step, c);
                break;
            }
            (b, cb) = (b - step, c);
            step *= 2;
        }
    }
    while b - a > 1 {
        let m = a + (b - a) / 2;
        let cm = model.cum(m);
        if cm <= target {
            a = m;
            ca = cm;
        } else {
            b = m;
            cb = cm;
        }
    }
    dec.consume(ca, cb - ca);
    if a < len {
        return Ok(model.lo() + a as i32);
    }
    let v = i64::from(dec.decode_golomb()?);
    let lo = i64::from(model.lo());
    let hi = lo + i64::from(len) - 1;
    let value = if v & 1 == 0 {
        lo - 1 - v / 2
    } else {
        hi + 1 + v / 2
    };
    if value.abs() > i64::from(VALUE_LIMIT) {
        return Err(EntropyError::BadEscape);
    }
    Ok(value as i32)
}
