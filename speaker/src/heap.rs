//! Keeping glibc's heap close to what is live.
//!
//! A pass builds lists the size of the cluster (the plan, the wanted conditions: hundreds of
//! KiB with thousands of Services) and drops them at its end, and each status write allocates
//! and drops its request. With glibc's defaults that memory stays with the process:
//! - glibc serves blocks of 128 KiB and more with mappings of their own and unmaps them when
//!   freed, but it raises that threshold to the size of each such block freed. After the first
//!   pass the lists are carved from the heap instead. [`fix_mmap_threshold`] keeps it fixed.
//! - Freed memory between live objects is kept, resident, for later allocations; only free
//!   space at the heap's top is given back. [`trim`] gives back the free pages anywhere in the
//!   heap; the speaker calls it after each pass, when the pass's lists have just been freed.
//!
//! Both apply to the release images too (static glibc); they are no-ops with other allocators,
//! such as a musl build.

/// The size from which blocks get mappings of their own, unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Fixes glibc's mmap threshold at its default, so it no longer rises. Call it once, early.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn fix_mmap_threshold() {
    // SAFETY: mallopt only sets a parameter of the allocator, under the allocator's own lock;
    // it touches no memory of ours.
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
    if ok == 0 {
        tracing::warn!("malloc's mmap threshold could not be fixed; the heap may stay larger");
    }
}

/// Gives the heap's free pages back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() {
    // SAFETY: malloc_trim only releases pages of free chunks, under the allocator's own locks;
    // no live allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Nothing to fix with this allocator.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn fix_mmap_threshold() {}

/// Nothing to trim with this allocator.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_live_memory_intact() {
        fix_mmap_threshold();
        let live: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 4096]).collect();
        let dropped: Vec<Vec<u8>> = (0..64).map(|_| vec![0xaa; 4096]).collect();
        drop(dropped);
        trim();
        for (i, block) in live.iter().enumerate() {
            assert!(block.iter().all(|b| usize::from(*b) == i));
        }
    }
}
