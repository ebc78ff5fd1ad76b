//! Replays one input on one target's half, outside libFuzzer (for a debugger or a memory limit):
//! `cargo run --manifest-path fuzz/Cargo.toml --example replay -- <target> <file>`.
fn main() {
    let mut args = std::env::args().skip(1);
    let (target, file) = (args.next().expect("a target"), args.next().expect("a file"));
    let data = std::fs::read(file).expect("the input");
    match target.as_str() {
        "sync_message" => kith_fuzz::sync_message(&data),
        "push_request" => kith_fuzz::push_request(&data),
        "push_change" => kith_fuzz::push_change(&data),
        "live_events" => kith_fuzz::live_events(&data),
        "join_link" => kith_fuzz::join_link(&data),
        "store_open" => kith_fuzz::store_open(&data),
        t => panic!("no target {t}"),
    }
    println!("{target}: done");
}
