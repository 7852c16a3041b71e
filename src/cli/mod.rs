//! The `openclaw` command line, with nginx's flags and process habits.

mod args;
mod keys;
mod lua_scan;
mod migrate;
mod run;

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
    // `openclaw repl [-p PREFIX] [-c CONF]` and `openclaw test [-p PREFIX] [-c CONF]
    // [PATH...]` (default spec/): with -p/-c, the configuration's Lua setup is loaded.
    if let Some(tool @ ("repl" | "test")) = argv.first().map(String::as_str) {
        let mut flags = vec![];
        let mut paths = vec![];
        let mut it = argv[1..].iter();
        while let Some(a) = it.next() {
            if a == "-p" || a == "-c" {
                flags.push(a.clone());
                flags.extend(it.next().cloned());
            } else {
                paths.push(std::path::PathBuf::from(a));
            }
        }
        let config = if flags.is_empty() {
            None
        } else {
            let parsed = match Args::parse(&flags) {
                Ok(a) => a,
                Err(msg) => {
                    eprintln!("openclaw: {msg}");
                    return 1;
                }
            };
            let opts = crate::config::LoadOptions {
                prefix: parsed.prefix.clone(),
                conf_file: parsed.conf.clone(),
                globals: None,
                error_log: None,
            };
            match crate::config::load(&opts) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("openclaw: [emerg] {e}");
                    return 1;
                }
            }
        };
        if tool == "repl" {
            return crate::lua::repl(config.as_ref());
        }
        if paths.is_empty() {
            paths.push(std::path::PathBuf::from("spec"));
        }
        return crate::lua::run_specs(&paths, config.as_ref());
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
