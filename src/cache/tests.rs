use super::*;

fn entry(key: &str, body: &str, tags: &[&str]) -> Entry {
    let now = now_secs();
    Entry {
        key: key.into(),
        status: 200,
        headers: vec![(
            "content-type".into(),
            bytes::Bytes::from_static(b"text/plain"),
        )],
        body: bytes::Bytes::from(body.to_string()),
        stored: now,
        expires: now + 60,
        swr: 0,
        sie: 0,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        vary: vec![],
        ..Default::default()
    }
}

#[test]
fn entries_survive_a_reopen_and_torn_files_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    let z = Zone::open(
        "t",
        path.clone(),
        vec![1, 2],
        1 << 20,
        0,
        Duration::from_secs(600),
    )
    .unwrap();
    z.put(entry("k1", "hello", &["a"]));
    z.put(entry("k2", "world", &["b"]));
    let f = z.tier.layout.file_for("k1");
    assert!(f.starts_with(&path));
    assert_eq!(f.components().count(), path.components().count() + 3);
    assert!(z.flush(Duration::from_secs(10)));
    drop(z);
    // Damage k2's file as a crash mid-write would (without the rename protocol).
    let f2 = {
        let z = Zone::open(
            "t",
            path.clone(),
            vec![1, 2],
            1 << 20,
            0,
            Duration::from_secs(600),
        )
        .unwrap();
        z.tier.layout.file_for("k2")
    };
    let data = std::fs::read(&f2).unwrap();
    std::fs::write(&f2, &data[..data.len() - 3]).unwrap();
    let z = Zone::open("t", path, vec![1, 2], 1 << 20, 0, Duration::from_secs(600)).unwrap();
    assert_eq!(&z.get("k1").unwrap().body[..], b"hello");
    assert!(z.get("k2").is_none());
    assert!(!f2.exists());
}

#[test]
fn purge_by_key_prefix_and_tag() {
    let dir = tempfile::tempdir().unwrap();
    let z = Zone::open(
        "t",
        dir.path().join("c"),
        vec![1],
        1 << 20,
        0,
        Duration::from_secs(600),
    )
    .unwrap();
    for (k, t) in [("/a/1", "x"), ("/a/2", "y"), ("/b/1", "x"), ("/b/2", "z")] {
        z.put(entry(k, "v", &[t]));
    }
    assert_eq!(z.purge(Some("/b/2"), None, &[]), 1);
    assert_eq!(z.purge(None, Some("/a/"), &[]), 2);
    assert_eq!(z.purge(None, None, &["x".into()]), 1);
    assert!(z.get("/b/1").is_none());
    assert_eq!(z.disk_size(), 0);
    assert!(z.flush(Duration::from_secs(10)));
}

#[test]
fn max_size_evicts_the_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let z = Zone::open(
        "t",
        dir.path().join("c"),
        vec![],
        1 << 20,
        3000,
        Duration::from_secs(600),
    )
    .unwrap();
    let big = "x".repeat(1000);
    for i in 0..5 {
        z.put(entry(&format!("k{i}"), &big, &[]));
    }
    assert!(z.disk_size() <= 3000, "{}", z.disk_size());
    assert!(z.get("k4").is_some());
    assert!(z.flush(Duration::from_secs(10)));
}

fn zone_in(dir: &std::path::Path) -> Arc<Zone> {
    Zone::open(
        "t",
        dir.join("c"),
        vec![1, 2],
        1 << 20,
        0,
        Duration::from_secs(600),
    )
    .unwrap()
}

/// A zone holding `key` on disk only (written, memory tier emptied).
fn on_disk_only(dir: &std::path::Path, key: &str, body: &str) -> Arc<Zone> {
    let z = zone_in(dir);
    z.put(entry(key, body, &[]));
    assert!(z.flush(Duration::from_secs(10)));
    z.mem.invalidate_all();
    z
}

#[test]
fn a_pending_entry_is_served_before_its_file_exists() {
    let dir = tempfile::tempdir().unwrap();
    let z = zone_in(dir.path());
    z.writer.hold(true);
    z.put(entry("k", "early", &[]));
    // Even with the memory tier emptied, the queued store answers.
    z.mem.invalidate_all();
    assert_eq!(&z.get("k").unwrap().body[..], b"early");
    assert!(!z.tier.layout.file_for("k").exists());
    z.writer.hold(false);
    assert!(z.flush(Duration::from_secs(10)));
    assert!(z.tier.layout.file_for("k").exists());
    assert!(z.tier.pending().is_empty());
    z.mem.invalidate_all();
    assert_eq!(&z.get("k").unwrap().body[..], b"early");
}

#[test]
fn a_purge_queued_after_a_store_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let z = zone_in(dir.path());
    z.writer.hold(true);
    for i in 0..40u32 {
        let tag = if i.is_multiple_of(2) { "even" } else { "odd" };
        z.put(entry(&format!("/p/{i}"), "v", &[tag]));
    }
    z.put(entry("/q/1", "old", &[]));
    z.put(entry("/q/1", "new", &[]));
    z.put(entry("/gone", "v", &[]));
    assert!(z.remove("/gone"));
    assert_eq!(z.purge(None, None, &["even".into()]), 20);
    assert_eq!(z.purge(None, Some("/p/1"), &[]), 6); // 1, 11, 13, 15, 17, 19
    assert!(z.get("/gone").is_none() && z.get("/p/2").is_none());
    z.writer.hold(false);
    assert!(z.flush(Duration::from_secs(10)));
    assert!(!z.tier.layout.file_for("/gone").exists());
    assert!(!z.tier.layout.file_for("/p/2").exists());
    z.mem.invalidate_all();
    assert_eq!(&z.get("/q/1").unwrap().body[..], b"new");
    // The next process finds exactly what is left on disk.
    drop(z);
    let z = zone_in(dir.path());
    assert_eq!(z.index().len(), 20 - 6 + 1);
    assert!(z.get("/p/3").is_some() && z.get("/p/11").is_none());
}

#[test]
fn a_failed_write_is_served_from_memory_and_not_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let z = zone_in(dir.path());
    // A file where the temporary directory should be: every open() fails.
    std::fs::remove_dir(z.path.join(".tmp")).unwrap();
    std::fs::write(z.path.join(".tmp"), b"").unwrap();
    z.put(entry("k", "mem", &[]));
    assert!(z.flush(Duration::from_secs(10)));
    assert_eq!(z.disk_size(), 0);
    assert_eq!(&z.get("k").unwrap().body[..], b"mem");
    assert!(z.tier.pending().is_empty());
}

#[test]
fn lookup_reads_the_disk_off_the_calling_thread() {
    let dir = tempfile::tempdir().unwrap();
    let z = on_disk_only(dir.path(), "k", "disk");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let e = rt.block_on(z.lookup("k")).unwrap();
    assert_eq!(&e.body[..], b"disk");
    assert!(rt.block_on(z.lookup("other")).is_none());
}

#[test]
fn a_damaged_file_is_a_miss_and_its_deletion_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let z = on_disk_only(dir.path(), "k", "v");
    let f = z.tier.layout.file_for("k");
    std::fs::write(&f, b"OCC1 torn").unwrap();
    assert!(z.get("k").is_none());
    assert!(z.flush(Duration::from_secs(10)));
    assert!(!f.exists());
}
