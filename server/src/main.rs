/// jemalloc, as Vector and other long-running Rust servers use: it hands freed memory back to the system after
/// a load, from background threads (glibc kept the peak of a bulk push resident; see the README's Reliability figures).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    mcpulse::cli::main()
}
