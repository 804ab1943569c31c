//! The frame reader and the parser's probe on arbitrary bytes: errors, never panics,
//! and `probe` agrees with `read_frame` on where a frame ends and what its header says.
#![no_main]

use gllmm::format::{self, Probe};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let r = format::read_frame(data);
    match format::probe(data) {
        Probe::Frame { len, header } if len <= data.len() => {
            if let Ok((frame, used)) = &r {
                assert_eq!(*used, len);
                assert_eq!(frame.header, header);
            }
        }
        _ => {
            if let Ok((_, used)) = &r {
                panic!("read_frame took {used} bytes where probe saw no whole frame");
            }
        }
    }
});
