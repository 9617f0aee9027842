//! 2.0 SIEM pages and their file lists.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimecast_collector::api::envelope::SiemPage;

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = SiemPage::parse(data) {
        if let Some(v) = page.value.as_deref() {
            let _ = mimecast_collector::streams::batch_files::files(v);
        }
    }
});
