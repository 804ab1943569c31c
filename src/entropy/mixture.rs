//! The Gaussian–Laplacian–Logistic mixture (GLLMM) as the coder sees it: quantised
//! parameters and integer cumulative frequencies computed from lookup tables.
//!
//! Raw network output per latent element (30 numbers): for each family
//! (Gaussian, Laplacian, Logistic) three weight logits, three means and three log
//! scales, then three family logits. Weights are a softmax over families times a
//! softmax within the family.

use super::{SymbolModel, TOTAL, VALUE_LIMIT, detmath};
use std::sync::OnceLock;

pub const FAMILIES: usize = 3;
/// Components per family.
pub const K: usize = 3;
pub const COMPONENTS: usize = FAMILIES * K;
/// Raw network outputs per latent element.
pub const RAW_PARAMS: usize = COMPONENTS * 3 + FAMILIES;
/// Quantised weights sum to `1 << WEIGHT_BITS`.
pub const WEIGHT_BITS: u32 = 10;
pub const WEIGHT_TOTAL: u32 = 1 << WEIGHT_BITS;
/// Means are multiples of `2^-MEAN_FRAC_BITS`.
pub const MEAN_FRAC_BITS: u32 = 6;
pub const NUM_SCALES: usize = 64;
pub const SCALE_MIN: f64 = 0.11;
pub const SCALE_MAX: f64 = 256.0;
/// Standard CDFs are tabulated in Q22 on `[-T_MAX, T_MAX]`, 64 points per unit.
const CDF_BITS: u32 = 22;
const T_MAX: i64 = 16;
const STEP_BITS: u32 = 6;
const TAB_LEN: usize = ((2 * T_MAX) << STEP_BITS) as usize + 1;
/// A component's coded range reaches `TAIL` scales either side of its mean.
const TAIL: f64 = 10.0;
/// At most this many values get their own interval; the rest are escaped.
pub const MAX_RANGE: u32 = 4096;

/// Distribution family of a mixture component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Gaussian = 0,
    Laplacian = 1,
    Logistic = 2,
}

impl Family {
    pub const ALL: [Family; FAMILIES] = [Family::Gaussian, Family::Laplacian, Family::Logistic];

    /// The standard CDF (scale 1) in f64; for tests and export-time code only.
    pub fn std_cdf(self, x: f64) -> f64 {
        match self {
            Family::Gaussian => detmath::normal_cdf(x),
            Family::Laplacian => detmath::laplace_cdf(x),
            Family::Logistic => detmath::logistic_cdf(x),
        }
    }
}

/// Quantised parameters of one latent element's mixture; component `c` belongs to
/// family `c / K`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantParams {
    /// Sum to [`WEIGHT_TOTAL`].
    pub weights: [u16; COMPONENTS],
    /// Fixed point, `MEAN_FRAC_BITS` fractional bits, `|mean| <= VALUE_LIMIT`.
    pub means: [i32; COMPONENTS],
    /// Indices into the log-spaced scale table.
    pub scales: [u8; COMPONENTS],
}

struct Tables {
    cdf: [Vec<u32>; FAMILIES],
    /// `2^16 / scale`, rounded.
    inv_scale: [i64; NUM_SCALES],
    span: [i32; NUM_SCALES],
    scale: [f64; NUM_SCALES],
    /// `ln` of the geometric midpoints between neighbouring scales.
    log_thresholds: [f64; NUM_SCALES - 1],
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let cdf = Family::ALL.map(|f| {
            let mut tab = Vec::with_capacity(TAB_LEN);
            let one = f64::from(1u32 << CDF_BITS);
            let mut prev = 0u32;
            for j in 0..TAB_LEN {
                let t = -(T_MAX as f64) + j as f64 / f64::from(1u32 << STEP_BITS);
                let v = if j == 0 {
                    0
                } else if j == TAB_LEN - 1 {
                    1 << CDF_BITS
                } else {
                    ((f.std_cdf(t) * one + 0.5) as u32).clamp(prev, 1 << CDF_BITS)
                };
                tab.push(v);
                prev = v;
            }
            tab
        });
        let log_min = detmath::ln(SCALE_MIN);
        let log_step = (detmath::ln(SCALE_MAX) - log_min) / (NUM_SCALES - 1) as f64;
        let mut scale = [0.0; NUM_SCALES];
        let mut inv_scale = [0; NUM_SCALES];
        let mut span = [0; NUM_SCALES];
        for i in 0..NUM_SCALES {
            scale[i] = detmath::exp(log_min + log_step * i as f64);
            inv_scale[i] = (65536.0 / scale[i] + 0.5) as i64;
            span[i] = ((TAIL * scale[i]) as i32 + 1).max(1);
        }
        let mut log_thresholds = [0.0; NUM_SCALES - 1];
        for (i, t) in log_thresholds.iter_mut().enumerate() {
            *t = log_min + log_step * (i as f64 + 0.5);
        }
        Tables {
            cdf,
            inv_scale,
            span,
            scale,
            log_thresholds,
        }
    })
}

/// The scale (in latent units) that index `i` stands for.
pub fn scale_value(i: u8) -> f64 {
    tables().scale[usize::from(i).min(NUM_SCALES - 1)]
}

/// Index of the table scale nearest (in log domain) to `exp(log_scale)`.
pub fn quantize_log_scale(log_scale: f32) -> u8 {
    let t = &tables().log_thresholds;
    if log_scale.is_nan() {
        return 0;
    }
    let l = f64::from(log_scale);
    t.partition_point(|&th| th < l) as u8
}

/// `exp(-i / 256)` for `i` in `0..EXP_TABLE_LEN`, for the softmaxes: logit
/// differences are rounded to 1/256 (finer than the 1/1024 weight grid needs).
const EXP_STEPS: f64 = 256.0;
const EXP_TABLE_LEN: usize = 32 * 256;

fn exp_table() -> &'static [f64] {
    static T: OnceLock<Vec<f64>> = OnceLock::new();
    T.get_or_init(|| {
        (0..EXP_TABLE_LEN)
            .map(|i| detmath::exp(-(i as f64) / EXP_STEPS))
            .collect()
    })
}

fn softmax3(l: &[f32]) -> [f64; 3] {
    let v: [f32; 3] = [0, 1, 2].map(|i| if l[i].is_finite() { l[i] } else { 0.0 });
    let m = v[0].max(v[1]).max(v[2]);
    let t = exp_table();
    let e = v.map(|x| {
        let d = (f64::from(m) - f64::from(x)) * EXP_STEPS + 0.5;
        if d < EXP_TABLE_LEN as f64 {
            t[d as usize]
        } else {
            0.0
        }
    });
    let s = e[0] + e[1] + e[2];
    e.map(|x| x / s)
}

impl QuantParams {
    /// Quantises one element's 30 raw network outputs (see the module docs).
    /// Deterministic: uses only IEEE basic operations and table lookups.
    pub fn from_raw(raw: &[f32]) -> Self {
        assert!(raw.len() >= RAW_PARAMS, "need {RAW_PARAMS} raw parameters");
        let fam = softmax3(&raw[COMPONENTS * 3..RAW_PARAMS]);
        let mut p = [0.0f64; COMPONENTS];
        let mut means = [0i32; COMPONENTS];
        let mut scales = [0u8; COMPONENTS];
        let lim = f64::from(VALUE_LIMIT) * f64::from(1u32 << MEAN_FRAC_BITS);
        for (f, &pf) in fam.iter().enumerate() {
            let base = f * 3 * K;
            let w = softmax3(&raw[base..base + K]);
            for k in 0..K {
                let c = f * K + k;
                p[c] = pf * w[k];
                let m = f64::from(raw[base + K + k]) * f64::from(1u32 << MEAN_FRAC_BITS);
                let m = if m.is_nan() { 0.0 } else { m.clamp(-lim, lim) };
                means[c] = (m + if m < 0.0 { -0.5 } else { 0.5 }) as i32;
                scales[c] = quantize_log_scale(raw[base + 2 * K + k]);
            }
        }
        Self {
            weights: quantize_weights(&p),
            means,
            scales,
        }
    }

    /// A single-component mixture (for tests and simple priors).
    pub fn single(family: Family, mean: f64, scale_index: u8) -> Self {
        let c = family as usize * K;
        let mut weights = [0; COMPONENTS];
        weights[c] = WEIGHT_TOTAL as u16;
        let mut means = [0; COMPONENTS];
        means[c] = (mean * f64::from(1u32 << MEAN_FRAC_BITS)).round() as i32;
        let mut scales = [0; COMPONENTS];
        scales[c] = scale_index;
        Self {
            weights,
            means,
            scales,
        }
    }

    /// Checks the invariants a coder relies on (for parameters from outside).
    pub fn is_valid(&self) -> bool {
        let lim = VALUE_LIMIT << MEAN_FRAC_BITS;
        self.weights.iter().map(|&w| u32::from(w)).sum::<u32>() == WEIGHT_TOTAL
            && self.means.iter().all(|m| m.abs() <= lim)
            && self.scales.iter().all(|&s| usize::from(s) < NUM_SCALES)
    }
}

/// Probabilities -> integer weights summing to [`WEIGHT_TOTAL`] (largest remainders).
fn quantize_weights(p: &[f64; COMPONENTS]) -> [u16; COMPONENTS] {
    let p = p.map(|x| if x.is_finite() && x > 0.0 { x } else { 0.0 });
    let s: f64 = p.iter().sum();
    let p = if s > 0.0 {
        p.map(|x| x / s)
    } else {
        [1.0 / COMPONENTS as f64; COMPONENTS]
    };
    let total = f64::from(WEIGHT_TOTAL);
    let mut q = p.map(|x| ((x * total) as u32).min(WEIGHT_TOTAL));
    let sum: u32 = q.iter().sum();
    let mut rem = WEIGHT_TOTAL.saturating_sub(sum);
    let mut order: [usize; COMPONENTS] = std::array::from_fn(|i| i);
    order.sort_by(|&a, &b| {
        let fa = p[a] * total - f64::from(q[a]);
        let fb = p[b] * total - f64::from(q[b]);
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    for &c in order.iter().cycle() {
        if rem == 0 {
            break;
        }
        q[c] += 1;
        rem -= 1;
    }
    q.map(|x| x as u16)
}

#[derive(Clone, Copy, Debug, Default)]
struct Comp {
    family: u8,
    weight: u64,
    mean: i64,
    inv: i64,
}

/// Integer CDF of one element's mixture, ready for [`super::encode_symbol`].
#[derive(Clone, Debug)]
pub struct MixtureModel {
    start: u32,
    comps: [Comp; COMPONENTS],
    n: usize,
    lo: i32,
    len: u32,
    base: u64,
    mult: u64,
}

impl MixtureModel {
    pub fn new(q: &QuantParams) -> Self {
        let t = tables();
        let lim = i64::from(VALUE_LIMIT);
        let mut comps = [Comp::default(); COMPONENTS];
        let mut n = 0;
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        let mut heaviest = (0u16, 0i64);
        for c in 0..COMPONENTS {
            let w = q.weights[c];
            if w == 0 {
                continue;
            }
            let s = usize::from(q.scales[c]).min(NUM_SCALES - 1);
            let mean = i64::from(q.means[c]).clamp(-lim << MEAN_FRAC_BITS, lim << MEAN_FRAC_BITS);
            comps[n] = Comp {
                family: (c / K) as u8,
                weight: u64::from(w),
                mean,
                inv: t.inv_scale[s],
            };
            n += 1;
            let span = i64::from(t.span[s]);
            lo = lo.min((mean >> MEAN_FRAC_BITS) - span);
            hi = hi.max(-((-mean) >> MEAN_FRAC_BITS) + span);
            if w > heaviest.0 {
                heaviest = (w, (mean + (1 << (MEAN_FRAC_BITS - 1))) >> MEAN_FRAC_BITS);
            }
        }
        if n == 0 {
            // Invalid weights: fall back to a flat model rather than panic.
            comps[0] = Comp {
                family: 1,
                weight: u64::from(WEIGHT_TOTAL),
                mean: 0,
                inv: t.inv_scale[NUM_SCALES - 1],
            };
            n = 1;
            lo = -i64::from(MAX_RANGE / 2);
            hi = lo + i64::from(MAX_RANGE) - 1;
        }
        let max = i64::from(MAX_RANGE);
        if hi - lo + 1 > max {
            lo = (heaviest.1 - max / 2).max(lo);
            hi = lo + max - 1;
        }
        lo = lo.clamp(-lim, lim);
        hi = hi.clamp(lo, lim);
        let start = (heaviest.1.clamp(lo, hi) - lo) as u32;
        let mut m = Self {
            start,
            comps,
            n,
            lo: lo as i32,
            len: (hi - lo + 1) as u32,
            base: 0,
            mult: 0,
        };
        m.base = m.mix_cdf(lo);
        m.mult = u64::from(TOTAL - m.len - 1);
        m
    }

    /// Mixture CDF at `v - 0.5`, in Q32.
    #[inline]
    fn mix_cdf(&self, v: i64) -> u64 {
        let t = tables();
        let x2 = (v << MEAN_FRAC_BITS) - (1 << (MEAN_FRAC_BITS - 1));
        let mut acc = 0u64;
        for c in &self.comps[..self.n] {
            let tq16 = ((x2 - c.mean) * c.inv) >> MEAN_FRAC_BITS;
            let u = tq16 + (T_MAX << 16);
            let v = if u <= 0 {
                0
            } else if u >= (2 * T_MAX) << 16 {
                1 << CDF_BITS
            } else {
                let tab = &t.cdf[usize::from(c.family)];
                let idx = (u >> (16 - STEP_BITS)) as usize;
                let frac = (u & ((1 << (16 - STEP_BITS)) - 1)) as u64;
                let a = u64::from(tab[idx]);
                let b = u64::from(tab[idx + 1]);
                a + (((b - a) * frac) >> (16 - STEP_BITS))
            };
            acc += c.weight * v;
        }
        acc
    }
}

impl SymbolModel for MixtureModel {
    #[inline]
    fn lo(&self) -> i32 {
        self.lo
    }
    #[inline]
    fn len(&self) -> u32 {
        self.len
    }
    #[inline]
    fn start(&self) -> u32 {
        self.start
    }
    #[inline]
    fn cum(&self, i: u32) -> u32 {
        let d = self.mix_cdf(i64::from(self.lo) + i64::from(i)) - self.base;
        ((d * self.mult) >> (CDF_BITS + WEIGHT_BITS)) as u32 + i
    }
}

/// The unquantised mixture's probability of `v` (f64 libm; tests and statistics only).
pub fn float_pmf(
    weights: &[f64],
    families: &[Family],
    means: &[f64],
    scales: &[f64],
    v: i32,
) -> f64 {
    let mut p = 0.0;
    for i in 0..weights.len() {
        let f = |x: f64| match families[i] {
            Family::Gaussian => {
                0.5 * (1.0 + erf_f64((x - means[i]) / (scales[i] * std::f64::consts::SQRT_2)))
            }
            Family::Laplacian => {
                let z = (x - means[i]) / scales[i];
                if z < 0.0 {
                    0.5 * z.exp()
                } else {
                    1.0 - 0.5 * (-z).exp()
                }
            }
            Family::Logistic => 1.0 / (1.0 + (-(x - means[i]) / scales[i]).exp()),
        };
        p += weights[i] * (f(f64::from(v) + 0.5) - f(f64::from(v) - 0.5));
    }
    p
}

fn erf_f64(x: f64) -> f64 {
    1.0 - detmath::erfc(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::{Decoder, Encoder, decode_symbol, encode_symbol};
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};

    fn arb_params() -> impl Strategy<Value = QuantParams> {
        let extreme_raw = prop_oneof![
            Just(0.0f32),
            -40.0f32..40.0,
            Just(-1e9f32),
            Just(1e9f32),
            Just(f32::NAN),
        ];
        prop::collection::vec(extreme_raw, RAW_PARAMS).prop_map(|raw| QuantParams::from_raw(&raw))
    }

    fn arb_value() -> impl Strategy<Value = i32> {
        prop_oneof![-8i32..8, -300i32..300, -VALUE_LIMIT..=VALUE_LIMIT]
    }

    proptest! {
        #[test]
        fn mixture_round_trip(items in prop::collection::vec((arb_params(), arb_value()), 1..200)) {
            let mut enc = Encoder::new();
            for (q, v) in &items {
                prop_assert!(q.is_valid());
                encode_symbol(&mut enc, &MixtureModel::new(q), *v).unwrap();
            }
            let bytes = enc.finish();
            let mut dec = Decoder::new(&bytes);
            for (q, v) in &items {
                prop_assert_eq!(decode_symbol(&mut dec, &MixtureModel::new(q)).unwrap(), *v);
            }
            prop_assert!(dec.finish().is_ok());
        }

        #[test]
        fn cum_is_strictly_increasing(q in arb_params()) {
            let m = MixtureModel::new(&q);
            prop_assert!(m.len() >= 1 && m.len() <= MAX_RANGE);
            prop_assert_eq!(m.cum(0), 0);
            let mut prev = 0;
            for i in 1..=m.len() {
                let c = m.cum(i);
                prop_assert!(c > prev);
                prev = c;
            }
            prop_assert!(prev < TOTAL);
        }
    }

    #[test]
    fn single_component_extremes_round_trip() {
        let mut enc = Encoder::new();
        let mut items = Vec::new();
        for f in Family::ALL {
            for s in [0u8, 1, 31, 62, 63] {
                for mean in [0.0f64, -3.3, 1e6, -1e6, 512.25] {
                    let q = QuantParams::single(f, mean.clamp(-32768.0, 32768.0), s);
                    for v in [0, 1, -1, 40, -VALUE_LIMIT, VALUE_LIMIT, 4000] {
                        encode_symbol(&mut enc, &MixtureModel::new(&q), v).unwrap();
                        items.push((q, v));
                    }
                }
            }
        }
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes);
        for (q, v) in &items {
            assert_eq!(decode_symbol(&mut dec, &MixtureModel::new(q)).unwrap(), *v);
        }
        assert!(
            encode_symbol(
                &mut Encoder::new(),
                &MixtureModel::new(&items[0].0),
                VALUE_LIMIT + 1
            )
            .is_err()
        );
    }

    /// Coded size vs the information content under the quantised and float models.
    #[test]
    fn coding_efficiency() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 100_000;
        let mut enc = Encoder::new();
        let (mut ideal_q, mut ideal_f) = (0.0f64, 0.0f64);
        for _ in 0..n {
            // A random realistic mixture: scales 0.3..20, means -5..5.
            let mut raw = [0f32; RAW_PARAMS];
            for f in 0..FAMILIES {
                for k in 0..K {
                    raw[f * 9 + k] = rng.gen_range(-2.0..2.0);
                    raw[f * 9 + 3 + k] = rng.gen_range(-5.0..5.0);
                    raw[f * 9 + 6 + k] = rng.gen_range(-1.2f32..3.0);
                }
                raw[27 + f] = rng.gen_range(-2.0..2.0);
            }
            let q = QuantParams::from_raw(&raw);
            let model = MixtureModel::new(&q);
            // Sample from the quantised mixture's own component choice.
            let wsum: f64 = q.weights.iter().map(|&w| f64::from(w)).sum();
            let mut r = rng.gen_range(0.0..wsum);
            let mut c = 0;
            while r >= f64::from(q.weights[c]) {
                r -= f64::from(q.weights[c]);
                c += 1;
            }
            let fam = Family::ALL[c / K];
            let mean = f64::from(q.means[c]) / 64.0;
            let scale = scale_value(q.scales[c]);
            let u: f64 = rng.gen_range(1e-12..1.0 - 1e-12);
            let x = match fam {
                Family::Gaussian => {
                    let u2: f64 = rng.gen_range(1e-12..1.0);
                    mean + scale * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
                }
                Family::Laplacian => {
                    mean - scale * (u - 0.5).signum() * (1.0 - 2.0 * (u - 0.5).abs()).ln()
                }
                Family::Logistic => mean + scale * (u / (1.0 - u)).ln(),
            };
            let v = x.round() as i32;
            let i = v - model.lo();
            let freq = if i >= 0 && (i as u32) < model.len() {
                model.cum(i as u32 + 1) - model.cum(i as u32)
            } else {
                TOTAL - model.cum(model.len())
            };
            ideal_q -= (f64::from(freq) / f64::from(TOTAL)).log2();
            let w: Vec<f64> = q.weights.iter().map(|&w| f64::from(w) / 1024.0).collect();
            let fams: Vec<Family> = (0..COMPONENTS).map(|c| Family::ALL[c / K]).collect();
            let means: Vec<f64> = q.means.iter().map(|&m| f64::from(m) / 64.0).collect();
            let scales: Vec<f64> = q.scales.iter().map(|&s| scale_value(s)).collect();
            ideal_f -= float_pmf(&w, &fams, &means, &scales, v).max(1e-300).log2();
            encode_symbol(&mut enc, &model, v).unwrap();
        }
        let bits = enc.finish().len() as f64 * 8.0;
        eprintln!("coded {bits} bits, quantised ideal {ideal_q:.0}, float ideal {ideal_f:.0}");
        assert!(
            bits <= ideal_q * 1.005 + 64.0,
            "vs quantised: {bits} > {ideal_q}"
        );
        assert!(
            bits <= ideal_f * 1.02 + 64.0,
            "vs float: {bits} > {ideal_f}"
        );
    }
}
