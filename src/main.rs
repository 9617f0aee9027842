//! The `mimecast-collector` binary: all logic lives in the library; this only hands over.

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    mimecast_collector::cli::main()
}

/// glibc gives each thread that allocates its own arena (up to 8 per core), and freed memory
/// stays in the arena that freed it: with pages decoded on one worker and written on another,
/// RSS grows by arenas, not by work (a 200k-record siem_cg drain: 43-45 MiB with the default
/// or two arenas, 34-35 MiB with one). The daemon's threads hand work along a pipeline rather
/// than allocate in parallel, so one arena costs no measurable CPU (same drain, median of 3).
/// `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}
