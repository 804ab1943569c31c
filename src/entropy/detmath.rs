//! Deterministic math for building the coder's lookup tables: only IEEE-754 basic
//! operations (correctly rounded everywhere), never libm, so every machine builds
//! bit-identical tables.

const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// `e^x`, to about 1 ulp, from basic operations only.
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < -745.0 {
        return 0.0;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    let k = (x / std::f64::consts::LN_2 + if x < 0.0 { -0.5 } else { 0.5 }) as i64;
    let r = (x - k as f64 * LN2_HI) - k as f64 * LN2_LO;
    // Taylor series for |r| <= 0.35: 20 terms reach double precision.
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..=20 {
        term = term * r / n as f64;
        sum += term;
    }
    scale_pow2(sum, k)
}

fn scale_pow2(v: f64, k: i64) -> f64 {
    let mut v = v;
    let mut k = k;
    while k > 1000 {
        v *= f64::from_bits(((1000 + 1023) as u64) << 52);
        k -= 1000;
    }
    while k < -1000 {
        v *= f64::from_bits(((-1000 + 1023) as u64) << 52);
        k += 1000;
    }
    v * f64::from_bits(((k + 1023) as u64) << 52)
}

/// Natural logarithm of a positive finite `x`, by Newton iterations on [`exp`].
pub fn ln(x: f64) -> f64 {
    assert!(x > 0.0 && x.is_finite());
    // Start from the binary exponent, then refine.
    let e = ((x.to_bits() >> 52) & 0x7ff) as i64 - 1023;
    let mut y = e as f64 * std::f64::consts::LN_2;
    for _ in 0..8 {
        y = y + 2.0 * (x - exp(y)) / (x + exp(y));
    }
    y
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * exp(poly);
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard Laplace CDF (scale 1).
pub fn laplace_cdf(x: f64) -> f64 {
    if x < 0.0 {
        0.5 * exp(x)
    } else {
        1.0 - 0.5 * exp(-x)
    }
}

/// Standard logistic CDF (scale 1).
pub fn logistic_cdf(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + exp(-x))
    } else {
        let e = exp(x);
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_libm() {
        for i in -2000..2000 {
            let x = i as f64 * 0.0173;
            let (a, b) = (exp(x), x.exp());
            assert!(((a - b) / b).abs() < 1e-15, "exp({x}) {a} vs {b}");
        }
        for &x in &[1e-300, 1e-5, 0.11, 1.0, 2.5, 256.0, 1e300] {
            assert!((ln(x) - f64::ln(x)).abs() < 1e-13 * (1.0 + f64::ln(x).abs()));
        }
        for i in -60..60 {
            let x = i as f64 * 0.1;
            let p = normal_cdf(x);
            assert!((0.0..=1.0).contains(&p));
        }
        assert!((normal_cdf(1.0) - 0.841_344_746_068_543).abs() < 1e-7);
    }
}
