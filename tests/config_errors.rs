//! Golden tests for configuration errors: every case in `tests/data/bad_configs.txt` runs
//! `openclaw -t` on a real file and must print nginx's exact message and line.

use std::path::Path;
use std::process::Command;

struct Case {
    name: String,
    config: String,
    error: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad_configs.txt"),
    )
    .unwrap();
    let mut out = vec![];
    for block in text.split("\n=== ").map(|b| b.trim_start_matches("=== ")) {
        if block.trim().is_empty() {
            continue;
        }
        let (name, rest) = block.split_once('\n').unwrap();
        let (config, error) = rest
            .strip_prefix("--- config\n")
            .unwrap()
            .split_once("--- error")
            .unwrap();
        out.push(Case {
            name: name.to_string(),
            // Exactly one trailing newline, as nginx saw it (EOF errors count lines).
            config: format!("{}\n", config.trim_end_matches('\n')),
            error: error.trim().to_string(),
        });
    }
    out
}

#[test]
fn bad_configs_match_nginx_messages() {
    let bin = env!("CARGO_BIN_EXE_openclaw");
    let cases = cases();
    assert!(cases.len() >= 25, "only {} cases", cases.len());
    let mut failures = vec![];
    for c in &cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, &c.config).unwrap();
        let out = Command::new(bin)
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = c
            .error
            .replace("{file}", &file.display().to_string())
            .replace("{prefix}", &dir.path().display().to_string());
        if expected.is_empty() {
            if !out.status.success() {
                failures.push(format!("{}: expected success, got:\n{stderr}", c.name));
            }
            continue;
        }
        let want = format!("openclaw: [emerg] {expected}\n");
        if out.status.code() != Some(1)
            || !stderr.starts_with(&want)
            || !stderr.contains("test failed")
        {
            failures.push(format!("{}:\n  want: {want}  got:  {stderr}", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
