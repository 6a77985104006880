//! Any bytes as a saved inventory (`check --inventory`): refused or judged
//! consistent, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(inv) = serde_json::from_slice::<portcullis::model::Inventory>(data) {
        let _ = inv.inconsistency();
        let _ = serde_json::to_vec(&inv).unwrap();
    }
});
