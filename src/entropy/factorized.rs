//! Per-channel integer CDF tables for the hyper-latent z. The tables are frozen
//! from the learned density at export time and stored with the model.

use super::{EntropyError, SymbolModel, TOTAL, VALUE_LIMIT};
use serde::{Deserialize, Serialize};

/// One channel's coded range `[lo, lo + len)` and its cumulative frequencies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelTable {
    pub lo: i32,
    /// `len + 1` entries: `cum[0] == 0`, strictly increasing, `cum[len] < TOTAL`.
    pub cum: Vec<u32>,
}

/// Longest range a channel table may cover.
pub const MAX_TABLE_LEN: usize = 4096;

impl ChannelTable {
    /// Freezes a CDF over `[lo, hi]`: every value gets frequency >= 1, the mass outside
    /// goes to the escape interval. `cdf` may be any function; it is made monotone.
    pub fn from_cdf(lo: i32, hi: i32, cdf: impl Fn(f64) -> f64) -> Result<Self, EntropyError> {
        if hi < lo
            || (i64::from(hi) - i64::from(lo)) as usize >= MAX_TABLE_LEN
            || lo < -VALUE_LIMIT
            || hi > VALUE_LIMIT
        {
            return Err(EntropyError::BadModel("factorized table range"));
        }
        let len = (hi - lo + 1) as u32;
        let avail = f64::from(TOTAL - len - 1);
        let clean = |x: f64| {
            let c = cdf(x);
            if c.is_nan() { 0.0 } else { c.clamp(0.0, 1.0) }
        };
        let base = clean(f64::from(lo) - 0.5);
        let mut cum = Vec::with_capacity(len as usize + 1);
        let mut run = base;
        for i in 0..=len {
            run = run.max(clean(f64::from(lo) + f64::from(i) - 0.5));
            cum.push(((run - base) * avail) as u32 + i);
        }
        let t = Self { lo, cum };
        t.validate()?;
        Ok(t)
    }

    /// Checks the invariants the coder relies on (tables come from model files).
    pub fn validate(&self) -> Result<(), EntropyError> {
        let ok = !self.cum.is_empty()
            && self.cum.len() <= MAX_TABLE_LEN + 1
            && self.cum.len() >= 2
            && self.cum[0] == 0
            && self.cum.windows(2).all(|w| w[0] < w[1])
            && *self.cum.last().unwrap() < TOTAL
            && i64::from(self.lo) >= -i64::from(VALUE_LIMIT)
            && i64::from(self.lo) + self.cum.len() as i64 - 2 <= i64::from(VALUE_LIMIT);
        if ok {
            Ok(())
        } else {
            Err(EntropyError::BadModel(
                "factorized table is not a valid CDF",
            ))
        }
    }
}

impl SymbolModel for ChannelTable {
    #[inline]
    fn lo(&self) -> i32 {
        self.lo
    }
    #[inline]
    fn len(&self) -> u32 {
        self.cum.len() as u32 - 1
    }
    #[inline]
    fn cum(&self, i: u32) -> u32 {
        self.cum[i as usize]
    }
}

/// The factorized prior: one table per channel of z.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorizedPrior {
    pub channels: Vec<ChannelTable>,
}

impl FactorizedPrior {
    pub fn validate(&self) -> Result<(), EntropyError> {
        if self.channels.is_empty() {
            return Err(EntropyError::BadModel("factorized prior has no channels"));
        }
        self.channels.iter().try_for_each(ChannelTable::validate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::{Decoder, Encoder, decode_symbol, encode_symbol, mixture::Family};
    use proptest::prelude::*;

    fn table(scale: f64, mean: f64, half: i32) -> ChannelTable {
        ChannelTable::from_cdf(-half, half, |x| {
            Family::Logistic.std_cdf((x - mean) / scale)
        })
        .unwrap()
    }

    proptest! {
        #[test]
        fn factorized_round_trip(
            specs in prop::collection::vec((0.01f64..50.0, -20.0f64..20.0, 0i32..200), 1..8),
            vals in prop::collection::vec((any::<prop::sample::Index>(), prop_oneof![-10i32..10, -VALUE_LIMIT..=VALUE_LIMIT]), 0..400),
        ) {
            let prior = FactorizedPrior { channels: specs.iter().map(|&(s, m, h)| table(s, m, h)).collect() };
            prior.validate().unwrap();
            let mut enc = Encoder::new();
            for (ch, v) in &vals {
                encode_symbol(&mut enc, &prior.channels[ch.index(prior.channels.len())], *v).unwrap();
            }
            let bytes = enc.finish();
            let mut dec = Decoder::new(&bytes);
            for (ch, v) in &vals {
                prop_assert_eq!(decode_symbol(&mut dec, &prior.channels[ch.index(prior.channels.len())]).unwrap(), *v);
            }
            prop_assert!(dec.finish().is_ok());
        }
    }

    #[test]
    fn non_monotone_cdf_is_repaired_and_bad_tables_rejected() {
        let t = ChannelTable::from_cdf(-3, 3, |x| (x * 7.0).sin().abs()).unwrap();
        assert!(t.validate().is_ok());
        assert!(ChannelTable::from_cdf(3, -3, |x| x).is_err());
        let bad = ChannelTable {
            lo: 0,
            cum: vec![0, 5, 5],
        };
        assert!(bad.validate().is_err());
        let bad = ChannelTable {
            lo: 0,
            cum: vec![0, TOTAL],
        };
        assert!(bad.validate().is_err());
    }
}
