//! Parsing nginx-style flags: `-p`, `-c`, `-g`, `-e`, `-t`, `-T`, `-s`, `-v`, `-V`, `-h`, `-q`.

use std::path::PathBuf;

pub const USAGE: &str =
    "Usage: openclaw [-?hvVtTq] [-s signal] [-p prefix] [-e filename] [-c filename] [-g directives]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and configure options then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: the current directory)
  -e filename   : set error log file (default: logs/error.log)
  -c filename   : set configuration file (default: conf/openclaw.conf, else conf/nginx.conf)
  -g directives : set global directives out of configuration file
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Run,
    Test { dump: bool },
    Signal(String),
    Version { verbose: bool },
    Help,
}

#[derive(Debug, Clone)]
pub struct Args {
    pub mode: Mode,
    pub prefix: PathBuf,
    pub conf: PathBuf,
    pub globals: Option<String>,
    pub error_log: Option<String>,
    pub quiet: bool,
}

impl Args {
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut mode = Mode::Run;
        let mut prefix: Option<String> = None;
        let mut conf: Option<String> = None;
        let mut globals = None;
        let mut error_log = None;
        let mut quiet = false;
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            let Some(flags) = a.strip_prefix('-') else {
                return Err(format!("invalid option: \"{a}\""));
            };
            let mut chars = flags.char_indices();
            while let Some((pos, c)) = chars.next() {
                let mut value = |name: &str| -> Result<String, String> {
                    let rest = &flags[pos + 1..];
                    if !rest.is_empty() {
                        return Ok(rest.to_string());
                    }
                    i += 1;
                    argv.get(i)
                        .cloned()
                        .ok_or_else(|| format!("option \"-{c}\" requires {name}"))
                };
                match c {
                    '?' | 'h' => mode = Mode::Help,
                    'v' => mode = Mode::Version { verbose: false },
                    'V' => mode = Mode::Version { verbose: true },
                    't' => mode = Mode::Test { dump: false },
                    'T' => mode = Mode::Test { dump: true },
                    'q' => quiet = true,
                    's' => {
                        let s = value("signal number")?;
                        if !matches!(s.as_str(), "stop" | "quit" | "reopen" | "reload") {
                            return Err(format!("invalid option: \"-s {s}\""));
                        }
                        mode = Mode::Signal(s);
                        break;
                    }
                    'p' => {
                        prefix = Some(value("directory name")?);
                        break;
                    }
                    'c' => {
                        conf = Some(value("file name")?);
                        break;
                    }
                    'e' => {
                        error_log = Some(value("file name")?);
                        break;
                    }
                    'g' => {
                        globals = Some(value("parameter")?);
                        break;
                    }
                    _ => return Err(format!("invalid option: \"{a}\"")),
                }
                let _ = &mut chars;
            }
            i += 1;
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let prefix = match prefix {
            Some(p) => cwd.join(p),
            None => cwd,
        };
        let prefix = normalize(&prefix);
        let conf = match conf {
            Some(c) => prefix.join(c),
            None => {
                let oc = prefix.join("conf/openclaw.conf");
                let ng = prefix.join("conf/nginx.conf");
                if !oc.exists() && ng.exists() {
                    ng
                } else {
                    oc
                }
            }
        };
        Ok(Args {
            mode,
            prefix,
            conf: normalize(&conf),
            globals,
            error_log,
            quiet,
        })
    }
}

/// Removes `.` components and trailing slashes without touching the filesystem.
fn normalize(p: &std::path::Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Args {
        Args::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags() {
        let a = p(&["-p", "/tmp/x/", "-c", "conf/a.conf", "-t"]);
        assert_eq!(a.mode, Mode::Test { dump: false });
        assert_eq!(a.conf, PathBuf::from("/tmp/x/conf/a.conf"));
        let a = p(&["-s", "reload", "-p/srv"]);
        assert_eq!(a.mode, Mode::Signal("reload".into()));
        assert_eq!(a.prefix, PathBuf::from("/srv"));
        let a = p(&["-g", "daemon off;", "-e", "stderr"]);
        assert_eq!(a.globals.as_deref(), Some("daemon off;"));
        assert_eq!(a.error_log.as_deref(), Some("stderr"));
        assert!(Args::parse(&["-s".into(), "bogus".into()]).is_err());
        assert!(Args::parse(&["-x".into()]).is_err());
    }
}
