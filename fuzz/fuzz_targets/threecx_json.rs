//! A PBX's answers (V20 backup list and token, V18 backup list): never a panic, and every
//! origin accepted has a plain `.zip` file name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (origins, lifetime) = pbx321::source::threecx::parse_answers(data, data);
    let v18 = pbx321::source::threecx_v18::parse_list(data);
    for o in origins.iter().chain(&v18).flatten() {
        assert!(pbx321::manifest::check_file_name(&o.name).is_ok());
        assert!(o.name.to_ascii_lowercase().ends_with(".zip"));
    }
    if let Some(secs) = lifetime {
        assert!((48..=24 * 3600).contains(&secs));
    }
});
