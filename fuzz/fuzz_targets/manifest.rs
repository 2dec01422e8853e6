//! What is read from a target: object paths and manifests, never a panic, and a manifest
//! that parses always lies where it says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbx321::manifest::{self, Manifest, Object};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match manifest::classify(text) {
            Object::Artifact { source, id } | Object::Manifest { source, id } => {
                assert!(manifest::check_name(&source).is_ok());
                assert_eq!(manifest::split_id(&id).map(|(s, _)| s), Some(source.as_str()));
                assert!(!id.contains('/') && !id.contains(".."));
            }
            Object::Partial | Object::Other => {}
        }
        let _ = manifest::split_id(text);
    }
    if let Ok(m) = Manifest::from_json(data, "hq", "hq-20261125T030000Z") {
        assert_eq!((m.source.as_str(), m.id.as_str()), ("hq", "hq-20261125T030000Z"));
        assert!(manifest::check_file_name(&m.origin.name).is_ok());
        let again = Manifest::from_json(&m.to_json(), "hq", "hq-20261125T030000Z").unwrap();
        assert_eq!(again, m);
    }
});
