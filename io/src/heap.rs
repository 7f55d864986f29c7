//! How the process's allocator keeps freed memory.
//!
//! A simulation allocates its op graphs, mappings and report and frees them all when it
//! returns, so the memory at the top of the heap is free after every run. glibc's allocator
//! gives such memory back to the system once more than 128 KiB of it is free (and maps
//! blocks above a threshold afresh each time), so a process that runs many simulations —
//! a search, a sweep, a gym episode, a Python session — asked the kernel for the same
//! megabyte and faulted it in again on every run: on one LLaMA-2-7B decode evaluation that
//! was ~150 page faults and ~5 `brk` calls, as much as a fifth of its time, and whether it
//! happened at all depended on which allocation ended up last on the heap.
//!
//! [`retain_freed_memory`] keeps up to 64 MiB of freed memory in the process for reuse. The
//! `archsim` binary, the Python module and the benches call it once at start.

/// Lets the allocator keep freed memory (up to 64 MiB at the top of the heap, blocks up to
/// 32 MiB from the heap rather than fresh mappings) for the next run instead of returning it
/// to the system. Does nothing where the allocator is not glibc's.
pub fn retain_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's tuning parameters; it takes plain integers and
    // is safe to call at any time from any thread.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TOP_PAD, 1 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}
