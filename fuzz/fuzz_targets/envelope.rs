//! `/api/...` response bodies: envelope, fail[] classification, pagination, record extraction.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimecast_collector::api::envelope::{error_detail, Envelope};
use mimecast_collector::streams::records;

fuzz_target!(|data: &[u8]| {
    let _ = error_detail(data);
    if let Ok(env) = Envelope::parse(data) {
        let _ = env.check("/api/ttp/url/get-logs");
        let _ = env.next_page_token(1);
        for field in [None, Some("clickLogs"), Some("logs"), Some("users")] {
            let _ = records::extract(env.data.as_deref(), field);
        }
    }
});
