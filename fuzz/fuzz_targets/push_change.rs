#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kith_fuzz::run(|| kith_fuzz::push_change(data)));
