//! Round trips and error handling of the codec with a small seeded model.

mod common;

use gllmm::{CodecOptions, ColourLayout, ContextMode, EncodeOptions, Error, Image};

const SIZES: [(u32, u32); 6] = [(1, 1), (2, 3), (17, 33), (65, 1), (64, 64), (130, 97)];

#[test]
fn decode_matches_encoder_reconstruction_bit_exactly() {
    let codec = common::codec(1);
    for context in [ContextMode::Checkerboard, ContextMode::Serial] {
        for layout in [ColourLayout::Rgb, ColourLayout::Gray] {
            for (w, h) in SIZES {
                let img = common::picture(w, h, layout);
                let opts = EncodeOptions {
                    quality: 40.0,
                    context,
                    ..Default::default()
                };
                let (bytes, rec) = codec.encode_and_reconstruct(&img, &opts).unwrap();
                let dec = codec.decode(&bytes).unwrap();
                assert_eq!(dec, rec, "{w}x{h} {layout:?} {context:?}");
                assert_eq!((dec.width, dec.height, dec.layout), (w, h, layout));
                let (frame, used) = gllmm::format::read_frame(&bytes).unwrap();
                assert_eq!(used, bytes.len());
                assert_eq!(frame.header.context, context);
                assert_eq!(frame.header.colour, layout);
            }
        }
    }
}

#[test]
fn thread_count_does_not_change_the_picture() {
    let img = common::picture(130, 97, ColourLayout::Rgb);
    let one = common::codec(2);
    let bytes = one.encode(&img, &EncodeOptions::default()).unwrap();
    let cfg = common::small_config();
    let two = gllmm::Codec::random(
        &cfg,
        2,
        &CodecOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let (a, b) = (one.decode(&bytes), two.decode(&bytes));
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(two.encode(&img, &EncodeOptions::default()).unwrap(), bytes);
}

#[test]
fn quality_is_continuous_and_monotone_in_rate() {
    let codec = common::codec(3);
    let img = common::picture(64, 64, ColourLayout::Rgb);
    let sizes: Vec<usize> = [0.0, 33.3, 50.0, 75.5, 100.0]
        .iter()
        .map(|&quality| {
            codec
                .encode(
                    &img,
                    &EncodeOptions {
                        quality,
                        ..Default::default()
                    },
                )
                .unwrap()
                .len()
        })
        .collect();
    // The untrained gains already scale y: more quality, no fewer bytes.
    assert!(sizes.windows(2).all(|w| w[0] <= w[1] + 8), "{sizes:?}");
    for q in [-1.0, 100.5, f64::NAN] {
        assert!(matches!(
            codec.encode(
                &img,
                &EncodeOptions {
                    quality: q,
                    ..Default::default()
                }
            ),
            Err(Error::InvalidInput(_))
        ));
    }
}

#[test]
fn corrupt_truncated_and_foreign_streams_are_errors() {
    let codec = common::codec(4);
    let img = common::picture(70, 40, ColourLayout::Rgb);
    let bytes = codec.encode(&img, &EncodeOptions::default()).unwrap();
    assert!(codec.decode(&[]).is_err());
    for cut in [1, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(codec.decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        assert!(codec.decode(&b).is_err(), "flip at {i}");
    }
    let other = common::codec(5);
    assert!(matches!(
        other.decode(&bytes),
        Err(Error::ModelMismatch { .. })
    ));
}

#[test]
fn bad_pictures_are_rejected() {
    assert!(Image::new_rgb(0, 5, vec![]).is_err());
    assert!(Image::new_rgb(2, 2, vec![0; 11]).is_err());
    assert!(Image::new_gray(20000, 1, vec![0; 20000]).is_err());
}

#[test]
fn pictures_above_the_pixel_limit_are_refused_before_work() {
    let img = common::picture(20, 20, ColourLayout::Rgb);
    let bytes = common::codec(6)
        .encode(&img, &EncodeOptions::default())
        .unwrap();
    let small = gllmm::Codec::random(
        &common::small_config(),
        6,
        &CodecOptions {
            max_pixels: 399,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(
        small.encode(&img, &EncodeOptions::default()),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(small.decode(&bytes), Err(Error::InvalidInput(_))));
}

#[test]
fn refinement_lowers_the_real_cost_and_any_decoder_reads_it() {
    let codec = common::codec(7);
    let img = common::picture(70, 45, ColourLayout::Rgb);
    // Quality 100 is the last trained λ of the small model.
    let lambda = *common::small_config().lambdas.last().unwrap();
    for context in [ContextMode::Checkerboard, ContextMode::Serial] {
        let cost = |refine| {
            let opts = EncodeOptions {
                quality: 100.0,
                context,
                refine,
                ..Default::default()
            };
            let (bytes, rec) = codec.encode_and_reconstruct(&img, &opts).unwrap();
            assert_eq!(codec.decode(&bytes).unwrap(), rec);
            let bpp = bytes.len() as f64 * 8.0 / f64::from(img.width * img.height);
            let mse = 10f64.powf(-gllmm::metrics::psnr(&img, &rec) / 10.0);
            bpp + lambda * 255.0 * 255.0 * mse
        };
        let (plain, refined) = (cost(0), cost(20));
        assert!(refined < plain, "{context:?}: {plain} -> {refined}");
    }
    let too_many = EncodeOptions {
        refine: gllmm::model::refine::MAX_ITERATIONS + 1,
        ..Default::default()
    };
    assert!(matches!(
        codec.encode(&img, &too_many),
        Err(Error::InvalidInput(_))
    ));
    let big = Image::new_gray(2049, 2048, vec![0; 2049 * 2048]).unwrap();
    let refined = EncodeOptions {
        refine: 1,
        ..Default::default()
    };
    assert!(matches!(
        codec.encode(&big, &refined),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn unquantised_picture_has_the_input_shape_and_skips_the_rounding() {
    let codec = common::codec(4);
    for layout in [ColourLayout::Rgb, ColourLayout::Gray] {
        for (w, h) in SIZES {
            let img = common::picture(w, h, layout);
            let u = codec.unquantised(&img, 60.0).unwrap();
            assert_eq!((u.width, u.height, u.layout), (w, h, layout));
        }
    }
    let img = common::picture(64, 64, ColourLayout::Rgb);
    let opts = EncodeOptions {
        quality: 60.0,
        ..Default::default()
    };
    let (_, coded) = codec.encode_and_reconstruct(&img, &opts).unwrap();
    assert_ne!(codec.unquantised(&img, 60.0).unwrap(), coded);
    let qualities = [10.0, 60.0, 95.0];
    let at = codec.unquantised_at(&img, &qualities).unwrap();
    assert_eq!(at.len(), qualities.len());
    for (u, q) in at.iter().zip(qualities) {
        assert!(*u == codec.unquantised(&img, q).unwrap(), "quality {q}");
    }
    assert!(matches!(
        codec.unquantised_at(&img, &[60.0, 101.0]),
        Err(Error::InvalidInput(_))
    ));
    for q in [-1.0, 100.5, f64::NAN] {
        assert!(matches!(
            codec.unquantised(&img, q),
            Err(Error::InvalidInput(_))
        ));
    }
}
