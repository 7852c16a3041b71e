fn main() {
    std::process::exit(openclaw::cli::main());
}

// mimalloc: per-thread free lists suit thread-per-core workers better than glibc malloc.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// mimalloc as the global allocator. Unlike the `mimalloc` crate's, which asks for an
/// aligned block every time (a slower path inside mimalloc, about twice the instructions
/// of `mi_malloc`'s), it calls plain `mi_malloc` when the block is aligned anyway: for an
/// alignment up to 16 and a size that is a multiple of it (every Rust type's layout), as
/// bin sizes are multiples of 8 (of 16 above 16) and a page's first block is 16-aligned.
struct MiMalloc;

/// The alignment of every `mi_malloc` block of at least this size (MI_MAX_ALIGN_SIZE).
const MIN_ALIGN: usize = 16;

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

fn plain(size: usize, align: usize) -> bool {
    align <= MIN_ALIGN && size >= align && size.is_multiple_of(align)
}

// SAFETY: each method hands the layout's size (and alignment, when mi_malloc's own is not
// enough) to the matching mimalloc call, and every block is freed by mi_free, which takes
// blocks from any of them.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if plain(layout.size(), layout.align()) {
            mi::mi_malloc(layout.size()) as *mut u8
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
        };
        // The tests run debug builds of this binary: they check the claim above.
        debug_assert!(
            (p as usize).is_multiple_of(layout.align()),
            "misaligned block"
        );
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain(layout.size(), layout.align()) {
            mi::mi_zalloc(layout.size()) as *mut u8
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr as *mut c_void);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain(new_size, layout.align()) {
            mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
        }
    }
}
