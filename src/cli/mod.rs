//! The `openclaw` command line, with nginx's flags and process habits.

mod args;
mod keys;
mod lua_scan;
mod migrate;
mod run;
mod tools;

pub use args::{Args, Mode};

/// Entry point of the binary; returns the exit code.
pub fn main() -> i32 {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("keys") {
        return keys::main(&argv[1..]);
    }
    if argv.first().map(String::as_str) == Some("migrate") {
        return migrate::main(&argv[1..]);
    }
    if let Some(tool @ ("repl" | "test")) = argv.first().map(String::as_str) {
        let code = tools::main(tool, &argv[1..]);
        // Cache entries the session stored are written before the process ends.
        crate::cache::flush_all(std::time::Duration::from_secs(10));
        return code;
    }
    let args = match Args::parse(&argv) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("openclaw: {msg}");
            eprintln!();
            eprint!("{}", args::USAGE);
            return 1;
        }
    };
    match args.mode {
        Mode::Help => {
            eprint!("{}", args::USAGE);
            0
        }
        Mode::Version { verbose } => {
            eprintln!(
                "nginx version: nginx/{} (openclaw {})",
                crate::NGINX_COMPAT,
                crate::VERSION
            );
            if verbose {
                eprintln!(
                    "built with rustls, hyper and LuaJIT (openclaw {})",
                    crate::VERSION
                );
                eprintln!("configure arguments: --prefix=. --with-http_ssl_module --with-http_v2_module --add-module=openclaw-lua");
            }
            0
        }
        Mode::Test { dump } => run::test_config(&args, dump),
        Mode::Signal(ref s) => run::send_signal(&args, s),
        Mode::Run => run::run(&args),
    }
}
