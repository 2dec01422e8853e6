//! The streaming zip check sees every PBX backup before it is stored: any bytes are a
//! summary or an error, never a panic or an endless loop.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pbx321::zipcheck::check(data);
});
