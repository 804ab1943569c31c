//! Range-coder throughput with realistic GLLMM parameters, and the same workload
//! through constriction's range coder with a comparable quantised model.

use constriction::stream::model::DefaultContiguousCategoricalEntropyModel;
use constriction::stream::queue::DefaultRangeEncoder;
use constriction::stream::{Decode, Encode};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gllmm::entropy::mixture::{MixtureModel, QuantParams, RAW_PARAMS};
use gllmm::entropy::{Decoder, Encoder, SymbolModel, decode_symbol, encode_symbol};
use rand::{Rng, SeedableRng};

const N: usize = 100_000;

/// Parameters like a trained model's: mostly small scales near zero mean.
fn workload() -> (Vec<QuantParams>, Vec<i32>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut params = Vec::with_capacity(N);
    let mut values = Vec::with_capacity(N);
    for _ in 0..N {
        let mut raw = [0f32; RAW_PARAMS];
        for (i, r) in raw.iter_mut().enumerate() {
            *r = match i % 9 {
                0..=2 => rng.gen_range(-2.0..2.0),
                3..=5 => rng.gen_range(-1.5..1.5),
                _ => rng.gen_range(-2.0f32..1.5),
            };
        }
        let q = QuantParams::from_raw(&raw);
        let m = MixtureModel::new(&q);
        // Draw from the model's own distribution by inverting its CDF.
        let u = rng.gen_range(0..m.cum(m.len()));
        let i = (0..m.len()).find(|&i| m.cum(i + 1) > u).unwrap();
        let v = m.lo() + i as i32;
        params.push(q);
        values.push(v);
    }
    (params, values)
}

fn bench(c: &mut Criterion) {
    let (params, values) = workload();
    let models: Vec<MixtureModel> = params.iter().map(MixtureModel::new).collect();
    let mut g = c.benchmark_group("gllmm-range-coder");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("encode (incl. CDF)", |b| {
        b.iter(|| {
            let mut enc = Encoder::new();
            for (q, &v) in params.iter().zip(&values) {
                encode_symbol(&mut enc, &MixtureModel::new(q), v).unwrap();
            }
            enc.finish()
        })
    });
    let mut enc = Encoder::new();
    for (m, &v) in models.iter().zip(&values) {
        encode_symbol(&mut enc, m, v).unwrap();
    }
    let bytes = enc.finish();
    g.bench_function("decode (incl. CDF)", |b| {
        b.iter(|| {
            let mut dec = Decoder::new(&bytes);
            let mut s = 0i64;
            for q in &params {
                s += i64::from(decode_symbol(&mut dec, &MixtureModel::new(q)).unwrap());
            }
            s
        })
    });
    g.bench_function("decode (models prebuilt)", |b| {
        b.iter(|| {
            let mut dec = Decoder::new(&bytes);
            let mut s = 0i64;
            for m in &models {
                s += i64::from(decode_symbol(&mut dec, m).unwrap());
            }
            s
        })
    });
    g.finish();

    // constriction with the same quantised frequencies as categorical models.
    let cats: Vec<(i32, DefaultContiguousCategoricalEntropyModel)> = models
        .iter()
        .map(|m| {
            let probs: Vec<f64> = (0..m.len())
                .map(|i| f64::from(m.cum(i + 1) - m.cum(i)) / 65536.0)
                .collect();
            (
                m.lo(),
                DefaultContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast(
                    &probs, None,
                )
                .unwrap(),
            )
        })
        .collect();
    let syms: Vec<usize> = values
        .iter()
        .zip(&cats)
        .map(|(&v, (lo, _))| (v - lo) as usize)
        .collect();
    let mut g = c.benchmark_group("constriction-range-coder");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("encode (models prebuilt)", |b| {
        b.iter(|| {
            let mut enc = DefaultRangeEncoder::new();
            for (s, (_, m)) in syms.iter().zip(&cats) {
                enc.encode_symbol(*s, m).unwrap();
            }
            enc.into_compressed().unwrap()
        })
    });
    let mut enc = DefaultRangeEncoder::new();
    for (s, (_, m)) in syms.iter().zip(&cats) {
        enc.encode_symbol(*s, m).unwrap();
    }
    let comp = enc.into_compressed().unwrap();
    // The same per-element workload: every symbol's model built on the fly from the
    // quantised mixture (what gllmm's "incl. CDF" figures include).
    g.bench_function("decode (models built per symbol)", |b| {
        b.iter(|| {
            let mut dec =
                constriction::stream::queue::DefaultRangeDecoder::from_compressed(comp.clone())
                    .unwrap();
            let mut s = 0usize;
            for q in &params {
                let m = MixtureModel::new(q);
                let probs: Vec<f64> = (0..m.len())
                    .map(|i| f64::from(m.cum(i + 1) - m.cum(i)) / 65536.0)
                    .collect();
                let cat = DefaultContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast(&probs, None)
                    .unwrap();
                s += dec.decode_symbol(&cat).unwrap();
            }
            s
        })
    });
    g.bench_function("decode (models prebuilt)", |b| {
        b.iter(|| {
            let mut dec =
                constriction::stream::queue::DefaultRangeDecoder::from_compressed(comp.clone())
                    .unwrap();
            let mut s = 0usize;
            for (_, m) in &cats {
                s += dec.decode_symbol(m).unwrap();
            }
            s
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
