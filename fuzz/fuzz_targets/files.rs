//! Downloaded files: SIEM MTA zips / JSON lines, STIX bundles.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimecast_collector::streams::token_files::{mta_records, stix_objects};

fuzz_target!(|data: &[u8]| {
    let _ = mta_records(data);
    let _ = stix_objects(data);
});
