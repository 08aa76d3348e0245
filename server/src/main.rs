fn main() -> std::process::ExitCode {
    mcpulse::cli::main()
}
