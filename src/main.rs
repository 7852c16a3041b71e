fn main() {
    std::process::exit(openclaw::cli::main());
}

// mimalloc: per-thread free lists suit thread-per-core workers better than glibc malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
