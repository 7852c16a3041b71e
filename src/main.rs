fn main() {
    std::process::exit(openclaw::cli::main());
}
