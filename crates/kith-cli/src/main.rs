fn main() -> std::process::ExitCode {
    kith_cli::main()
}
