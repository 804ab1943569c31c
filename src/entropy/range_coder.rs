//! Range coder with 32-bit range and 64-bit low, carries propagated LZMA-style
//! through a cached byte. Frequencies are 16-bit: `total` is always [`TOTAL`].

use super::EntropyError;

/// Frequency precision in bits; every model's frequencies sum to `1 << PRECISION`.
pub const PRECISION: u32 = 16;
/// The fixed total of all frequencies.
pub const TOTAL: u32 = 1 << PRECISION;
const TOP: u32 = 1 << 24;
/// Bytes the decoder may read past the end (the flush pads with up to four).
const MAX_OVERRUN: u32 = 4;
/// Longest Exp-Golomb prefix accepted: values up to 2^32 - 1.
const MAX_GOLOMB_BITS: u32 = 32;

/// Writes symbols into a byte vector.
#[derive(Debug)]
pub struct Encoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
    first: bool,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    pub fn new() -> Self {
        Self {
            low: 0,
            range: u32::MAX,
            cache: 0,
            cache_size: 1,
            out: Vec::new(),
            first: true,
        }
    }

    fn shift_low(&mut self) {
        if (self.low as u32) < 0xFF00_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u8;
            let mut temp = self.cache;
            loop {
                // The very first cached byte is always zero: it is not written.
                if self.first {
                    self.first = false;
                } else {
                    self.out.push(temp.wrapping_add(carry));
                }
                temp = 0xFF;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = ((self.low >> 24) & 0xFF) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    #[inline]
    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Codes the interval `[cum, cum + freq)` out of [`TOTAL`].
    #[inline]
    pub fn encode(&mut self, cum: u32, freq: u32) {
        debug_assert!(freq > 0 && cum + freq <= TOTAL);
        let r = self.range >> PRECISION;
        self.low += u64::from(r) * u64::from(cum);
        self.range = r * freq;
        self.normalize();
    }

    /// Writes `bits` (at most 16) raw bits of `value`.
    #[inline]
    pub fn encode_bits(&mut self, value: u32, bits: u32) {
        debug_assert!(bits <= 16 && (bits == 32 || value < (1u32 << bits)));
        if bits == 0 {
            return;
        }
        let r = self.range >> bits;
        self.low += u64::from(r) * u64::from(value);
        self.range = r;
        self.normalize();
    }

    /// Writes `value` as an order-0 Exp-Golomb code through the bypass.
    pub fn encode_golomb(&mut self, value: u32) {
        let v = u64::from(value) + 1;
        let n = 63 - v.leading_zeros();
        for _ in 0..n {
            self.encode_bits(1, 1);
        }
        self.encode_bits(0, 1);
        let mut rest = n;
        while rest > 0 {
            let take = rest.min(16);
            rest -= take;
            self.encode_bits(((v >> rest) & ((1 << take) - 1)) as u32, take);
        }
    }

    /// Flushes the state and returns the coded bytes.
    pub fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        // Up to MAX_OVERRUN trailing zeros are implied: the decoder reads zeros past the end.
        for _ in 0..MAX_OVERRUN {
            if self.out.last() != Some(&0) {
                break;
            }
            self.out.pop();
        }
        self.out
    }
}

/// Reads symbols back from a byte slice. Never panics on corrupt input; reading
/// far past the end is reported by [`Decoder::finish`].
#[derive(Debug)]
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    code: u32,
    range: u32,
    r: u32,
    overrun: u32,
}

impl<'a> Decoder<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        let mut d = Self {
            data,
            pos: 0,
            code: 0,
            range: u32::MAX,
            r: 0,
            overrun: 0,
        };
        for _ in 0..4 {
            d.code = (d.code << 8) | u32::from(d.next_byte());
        }
        d
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => {
                self.overrun = self.overrun.saturating_add(1);
                0
            }
        }
    }

    #[inline]
    fn normalize(&mut self) {
        while self.range < TOP {
            self.code = (self.code << 8) | u32::from(self.next_byte());
            self.range <<= 8;
        }
    }

    /// The cumulative-frequency value the next symbol's interval must contain.
    #[inline]
    pub fn target(&mut self) -> u32 {
        self.r = self.range >> PRECISION;
        (self.code / self.r).min(TOTAL - 1)
    }

    /// Consumes the interval found for the value returned by [`Decoder::target`].
    #[inline]
    pub fn consume(&mut self, cum: u32, freq: u32) {
        self.code = self.code.wrapping_sub(self.r.wrapping_mul(cum));
        self.range = self.r.wrapping_mul(freq).max(1);
        self.normalize();
    }

    /// Reads `bits` (at most 16) raw bits.
    #[inline]
    pub fn decode_bits(&mut self, bits: u32) -> u32 {
        if bits == 0 {
            return 0;
        }
        let r = self.range >> bits;
        let v = (self.code / r).min((1 << bits) - 1);
        self.code = self.code.wrapping_sub(v * r);
        self.range = r;
        self.normalize();
        v
    }

    /// Reads an order-0 Exp-Golomb code.
    pub fn decode_golomb(&mut self) -> Result<u32, EntropyError> {
        let mut n = 0;
        while self.decode_bits(1) == 1 {
            n += 1;
            if n > MAX_GOLOMB_BITS || self.overrun > MAX_OVERRUN {
                return Err(EntropyError::BadEscape);
            }
        }
        let mut v: u64 = 1;
        let mut rest = n;
        while rest > 0 {
            let take = rest.min(16);
            rest -= take;
            v = (v << take) | u64::from(self.decode_bits(take));
        }
        u32::try_from(v - 1).map_err(|_| EntropyError::BadEscape)
    }

    /// Errors when the decoder had to read past the end of its data by more than
    /// the encoder's flush can explain: the section was truncated or corrupt.
    pub fn finish(&self) -> Result<(), EntropyError> {
        self.check()
    }

    /// Same as [`Decoder::finish`], usable mid-stream to stop early on garbage.
    #[inline]
    pub fn check(&self) -> Result<(), EntropyError> {
        if self.overrun > MAX_OVERRUN {
            Err(EntropyError::Truncated)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn intervals_round_trip(syms in prop::collection::vec((0u32..TOTAL, 1u32..=TOTAL), 0..2000)) {
            let syms: Vec<(u32, u32)> = syms.into_iter()
                .map(|(c, f)| { let c = c.min(TOTAL - 1); (c, f.min(TOTAL - c)) })
                .collect();
            let mut enc = Encoder::new();
            for &(c, f) in &syms { enc.encode(c, f); }
            let bytes = enc.finish();
            let mut dec = Decoder::new(&bytes);
            for &(c, f) in &syms {
                let t = dec.target();
                prop_assert!(t >= c && t < c + f);
                dec.consume(c, f);
            }
            prop_assert!(dec.finish().is_ok());
        }

        #[test]
        fn bypass_and_golomb_round_trip(vals in prop::collection::vec((any::<u32>(), 0u32..=16, any::<bool>()), 0..500)) {
            let mut enc = Encoder::new();
            for &(v, b, g) in &vals {
                if g { enc.encode_golomb(v) } else { enc.encode_bits(v & ((1u32 << b) - 1), b) }
            }
            let bytes = enc.finish();
            let mut dec = Decoder::new(&bytes);
            for &(v, b, g) in &vals {
                if g { prop_assert_eq!(dec.decode_golomb().unwrap(), v) }
                else { prop_assert_eq!(dec.decode_bits(b), v & ((1u32 << b) - 1)) }
            }
            prop_assert!(dec.finish().is_ok());
        }
    }

    #[test]
    fn carries_propagate() {
        // Symbols at the very top of the interval force long runs of 0xFF and carries.
        let mut enc = Encoder::new();
        for i in 0..10_000u32 {
            enc.encode(TOTAL - 1 - (i % 3), 1);
        }
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes);
        for i in 0..10_000u32 {
            let c = TOTAL - 1 - (i % 3);
            assert_eq!(dec.target(), c);
            dec.consume(c, 1);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let data: Vec<u8> = (0..64u32).map(|i| (i * 151 % 251) as u8).collect();
        let mut dec = Decoder::new(&data);
        for _ in 0..10_000 {
            let t = dec.target();
            dec.consume(t, 1);
            let _ = dec.decode_bits(7);
        }
        assert!(dec.finish().is_err());
    }
}
