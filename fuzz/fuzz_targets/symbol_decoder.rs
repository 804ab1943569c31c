//! The entropy decoder on arbitrary bytes under arbitrary models: mixture
//! parameters and a factorized table derived from the input, then symbols decoded
//! until the data is exhausted. Errors are fine; panics and hangs are not.
#![no_main]

use gllmm::entropy::factorized::ChannelTable;
use gllmm::entropy::mixture::{MixtureModel, QuantParams, RAW_PARAMS};
use gllmm::entropy::{Decoder, decode_symbol};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < RAW_PARAMS + 2 {
        return;
    }
    let raw: Vec<f32> = data[..RAW_PARAMS].iter().map(|&b| (b as i8) as f32 / 4.0).collect();
    let q = QuantParams::from_raw(&raw);
    let mixture = MixtureModel::new(&q);
    let half = i32::from(data[RAW_PARAMS] % 64);
    let scale = f64::from(data[RAW_PARAMS + 1]) / 16.0 + 0.05;
    let table = ChannelTable::from_cdf(-half, half, |x| 1.0 / (1.0 + (-x / scale).exp())).unwrap();
    let payload = &data[RAW_PARAMS + 2..];
    let mut dec = Decoder::new(payload);
    for i in 0..4 * payload.len() + 16 {
        let r = if i % 3 == 0 { decode_symbol(&mut dec, &table) } else { decode_symbol(&mut dec, &mixture) };
        if r.is_err() || dec.check().is_err() {
            break;
        }
    }
});
