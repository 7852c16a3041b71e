use super::*;

fn entry(key: &str, body: &str, tags: &[&str]) -> Entry {
    let now = now_secs();
    Entry {
        key: key.into(),
        status: 200,
        headers: vec![("content-type".into(), b"text/plain".to_vec())],
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
    let f = disk::file_for(&z, "k1");
    assert!(f.starts_with(&path));
    assert_eq!(f.components().count(), path.components().count() + 3);
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
        disk::file_for(&z, "k2")
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
}
