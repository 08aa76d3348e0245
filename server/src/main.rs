/// jemalloc, as Vector and other long-running Rust servers use: it hands freed memory back to the system after
/// a load, from background threads (glibc kept the peak of a bulk push resident; see the README's Reliability figures).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Freed pages go back to the system within a second (jemalloc's default keeps them ten seconds, then as long
/// again as "muzzy"): after a bulk load or a large read the resident memory falls back to the working set.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> std::process::ExitCode {
    mcpulse::cli::main()
}
