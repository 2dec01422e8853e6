//! The config loader: any text is a config or a list of problems, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let path = std::path::Path::new("/etc/pbx321/config.toml");
        if let Ok(cfg) = pbx321::config::Config::parse(text, path) {
            // What a run does first with a parsed config must not panic either.
            let summary = pbx321::ops::config_check::Summary::of(&cfg, &[], false);
            let _ = pbx321::report::human::config(&cfg, &summary);
            let _ = pbx321::policy::Rule::from(&cfg.policy);
        }
    }
});
