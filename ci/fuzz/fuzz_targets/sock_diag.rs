//! Datagrams a (hostile or buggy) netlink peer could send to the dump loop.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis::collect::fuzz_sock_diag(data);
});
