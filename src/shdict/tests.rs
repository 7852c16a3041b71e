use super::*;

fn s(v: &str) -> Option<Value> {
    Some(Value::Str(v.as_bytes().to_vec()))
}

#[test]
fn set_get_add_replace_delete() {
    let d = ShDict::new("t", 1 << 20);
    assert!(d.store(b"a", s("1"), None, 7, Mode::Set, false).is_ok());
    assert_eq!(d.get(b"a"), Some((Value::Str(b"1".to_vec()), 7)));
    assert_eq!(
        d.store(b"a", s("2"), None, 0, Mode::Add, false),
        Err(DictError::Exists)
    );
    assert_eq!(
        d.store(b"b", s("2"), None, 0, Mode::Replace, false),
        Err(DictError::NotFound)
    );
    assert!(d.store(b"a", s("3"), None, 0, Mode::Replace, false).is_ok());
    d.delete(b"a");
    assert_eq!(d.get(b"a"), None);
    assert_eq!(d.free_space(), d.capacity());
}

#[test]
fn incr_is_atomic_and_typed() {
    let d = Arc::new(ShDict::new("t", 1 << 20));
    assert_eq!(d.incr(b"n", 1.0, None, None), Err(DictError::NotFound));
    std::thread::scope(|sc| {
        for _ in 0..4 {
            let d = d.clone();
            sc.spawn(move || {
                for _ in 0..1000 {
                    d.incr(b"n", 1.0, Some(0.0), None).unwrap();
                }
            });
        }
    });
    assert_eq!(d.get(b"n").unwrap().0, Value::Number(4000.0));
    d.store(b"s", s("x"), None, 0, Mode::Set, false).unwrap();
    assert_eq!(d.incr(b"s", 1.0, None, None), Err(DictError::NotANumber));
}

#[test]
fn expiry_ttl_and_stale() {
    let d = ShDict::new("t", 1 << 20);
    d.store(
        b"k",
        s("v"),
        Some(Duration::from_millis(1)),
        0,
        Mode::Set,
        false,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(d.get(b"k"), None);
    assert_eq!(d.get_stale(b"k").map(|x| x.2), Some(true));
    assert_eq!(d.ttl(b"k"), Err(DictError::NotFound));
    d.store(b"p", s("v"), None, 0, Mode::Set, false).unwrap();
    assert_eq!(d.ttl(b"p"), Ok(None));
    d.expire(b"p", Some(Duration::from_secs(10))).unwrap();
    assert!(d.ttl(b"p").unwrap().unwrap() > Duration::from_secs(9));
    assert_eq!(d.flush_expired(0), 1);
}

#[test]
fn lru_eviction_is_forcible_and_safe_set_refuses() {
    // Room for about three 100-byte values.
    let d = ShDict::new("t", 3 * (OVERHEAD + 101) + 10);
    let big = Some(Value::Str(vec![b'x'; 100]));
    for k in [b"a", b"b", b"c"] {
        assert!(
            !d.store(k, big.clone(), None, 0, Mode::Set, false)
                .unwrap()
                .forcible
        );
    }
    d.get(b"a"); // a is now more recent than b
    assert_eq!(
        d.store(b"d", big.clone(), None, 0, Mode::Set, true),
        Err(DictError::NoMemory)
    );
    assert!(
        d.store(b"d", big.clone(), None, 0, Mode::Set, false)
            .unwrap()
            .forcible
    );
    assert!(d.get(b"b").is_none(), "b was least recently used");
    assert!(d.get(b"a").is_some());
    let huge = Some(Value::Str(vec![b'x'; 10_000]));
    assert_eq!(
        d.store(b"h", huge, None, 0, Mode::Set, false),
        Err(DictError::NoMemory)
    );
}

#[test]
fn lists() {
    let d = ShDict::new("t", 1 << 20);
    assert_eq!(d.push(b"l", ListItem::Number(1.0), false), Ok(1));
    assert_eq!(d.push(b"l", ListItem::Str(b"x".to_vec()), true), Ok(2));
    assert_eq!(d.llen(b"l"), Ok(2));
    assert_eq!(d.pop(b"l", true), Ok(Some(ListItem::Str(b"x".to_vec()))));
    assert_eq!(d.pop(b"l", false), Ok(Some(ListItem::Number(1.0))));
    assert_eq!(d.pop(b"l", false), Ok(None));
    d.store(b"s", s("v"), None, 0, Mode::Set, false).unwrap();
    assert_eq!(
        d.push(b"s", ListItem::Number(1.0), false),
        Err(DictError::NotAList)
    );
    assert_eq!(
        d.free_space(),
        d.capacity() - size_of(b"s", &Value::Str(b"v".to_vec()))
    );
}

#[test]
fn zones_survive_when_name_and_size_match() {
    let a = ShDict::zone("zone-test", 4096);
    a.store(b"k", s("v"), None, 0, Mode::Set, false).unwrap();
    let b = ShDict::zone("zone-test", 4096);
    assert!(b.get(b"k").is_some());
    let c = ShDict::zone("zone-test", 8192);
    assert!(c.get(b"k").is_none());
}
