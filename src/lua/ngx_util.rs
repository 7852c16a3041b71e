//! `ngx.*` utilities: time, hashes, encodings, URI escaping, phase.

use super::api::{rt, LResult};
use super::ngx_req::{header_text, lua_args_table, unescape, with_truncated};
use base64::Engine as _;
use mlua::{Lua, Table, Value};

pub fn utilities(lua: &Lua, ngx: &Table) -> LResult<()> {
    ngx.set(
        "now",
        lua.create_function(|_, ()| {
            let d = crate::clock::since_epoch();
            Ok((d.as_millis() as f64) / 1000.0)
        })?,
    )?;
    ngx.set(
        "time",
        lua.create_function(|_, ()| Ok(crate::clock::since_epoch().as_secs()))?,
    )?;
    ngx.set("update_time", lua.create_function(|_, ()| Ok(()))?)?;
    ngx.set(
        "today",
        lua.create_function(|_, ()| Ok(chrono::Local::now().format("%Y-%m-%d").to_string()))?,
    )?;
    ngx.set(
        "localtime",
        lua.create_function(|_, ()| {
            Ok(chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string())
        })?,
    )?;
    ngx.set(
        "utctime",
        lua.create_function(|_, ()| {
            Ok(chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string())
        })?,
    )?;
    ngx.set(
        "http_time",
        lua.create_function(|_, t: i64| {
            // httpdate panics past year 9999; nginx would print garbage there.
            let secs = t.clamp(0, 253_402_300_799) as u64;
            let st = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            Ok(httpdate::fmt_http_date(st))
        })?,
    )?;
    ngx.set(
        "cookie_time",
        lua.create_function(|_, t: i64| {
            // "Thu, 18-Nov-10 11:27:35 GMT", as nginx's ngx_http_cookie_time.
            let secs = t.clamp(0, 253_402_300_799);
            let dt = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
            Ok(dt.format("%a, %d-%b-%y %H:%M:%S GMT").to_string())
        })?,
    )?;
    ngx.set(
        "hmac_sha1",
        lua.create_function(|lua, (key, data): (mlua::LuaString, mlua::LuaString)| {
            use sha1::Digest;
            // RFC 2104 with SHA-1's 64-byte block.
            let mut k = key.as_bytes().to_vec();
            if k.len() > 64 {
                k = sha1::Sha1::digest(&k).to_vec();
            }
            k.resize(64, 0);
            let pad = |x: u8| k.iter().map(|b| b ^ x).collect::<Vec<u8>>();
            let mut inner = sha1::Sha1::new();
            inner.update(pad(0x36));
            inner.update(&*data.as_bytes());
            let mut outer = sha1::Sha1::new();
            outer.update(pad(0x5c));
            outer.update(inner.finalize());
            lua.create_string(outer.finalize())
        })?,
    )?;
    ngx.set(
        "decode_base64mime",
        lua.create_function(|lua, s: mlua::LuaString| {
            // MIME: characters outside the alphabet (line breaks, say) are skipped.
            let clean: Vec<u8> = s
                .as_bytes()
                .iter()
                .copied()
                .take_while(|&c| c != b'=')
                .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
                .collect();
            let cfg = base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
            let eng = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
            match eng.decode(&clean) {
                Ok(v) => Ok(Value::String(lua.create_string(v)?)),
                Err(_) => Ok(Value::Nil),
            }
        })?,
    )?;
    ngx.set(
        "parse_http_time",
        lua.create_function(|_, s: String| {
            Ok(httpdate::parse_http_date(&s).ok().map(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
            }))
        })?,
    )?;
    ngx.set(
        "md5",
        lua.create_function(|_, s: Option<mlua::LuaString>| {
            use md5::Digest;
            let bytes = s.map(|s| s.as_bytes().to_vec()).unwrap_or_default();
            let d = md5::Md5::digest(&bytes);
            Ok(d.iter().map(|b| format!("{b:02x}")).collect::<String>())
        })?,
    )?;
    ngx.set(
        "md5_bin",
        lua.create_function(|lua, s: mlua::LuaString| {
            use md5::Digest;
            lua.create_string(md5::Md5::digest(&*s.as_bytes()))
        })?,
    )?;
    ngx.set(
        "sha1_bin",
        lua.create_function(|lua, s: mlua::LuaString| {
            use sha1::Digest;
            lua.create_string(sha1::Sha1::digest(&*s.as_bytes()))
        })?,
    )?;
    ngx.set(
        "crc32_short",
        lua.create_function(|_, s: mlua::LuaString| Ok(crc32fast::hash(&s.as_bytes())))?,
    )?;
    ngx.set(
        "crc32_long",
        lua.create_function(|_, s: mlua::LuaString| Ok(crc32fast::hash(&s.as_bytes())))?,
    )?;
    ngx.set(
        "encode_base64",
        lua.create_function(|_, (s, no_pad): (mlua::LuaString, Option<bool>)| {
            let e = if no_pad.unwrap_or(false) {
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(&*s.as_bytes())
            } else {
                base64::engine::general_purpose::STANDARD.encode(&*s.as_bytes())
            };
            Ok(e)
        })?,
    )?;
    ngx.set(
        "decode_base64",
        lua.create_function(|lua, s: mlua::LuaString| {
            let bytes = s.as_bytes();
            // nginx stops at the first '=' and ignores what follows.
            let end = bytes.iter().position(|&c| c == b'=').unwrap_or(bytes.len());
            let trimmed: &[u8] = &bytes[..end];
            let cfg = base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
            let eng = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
            match eng.decode(trimmed) {
                Ok(v) => Ok(Value::String(lua.create_string(v)?)),
                Err(_) => Ok(Value::Nil),
            }
        })?,
    )?;
    ngx.set(
        "escape_uri",
        lua.create_function(|lua, (s, kind): (Option<mlua::LuaString>, Option<i64>)| {
            let s = match s {
                Some(s) => s,
                None => lua.create_string("")?,
            };
            // Type 2 (the default) escapes everything but unreserved characters.
            const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                .remove(b'-')
                .remove(b'.')
                .remove(b'_')
                .remove(b'~');
            const URI: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
                .add(b' ')
                .add(b'"')
                .add(b'#')
                .add(b'%')
                .add(b'?')
                .add(b'<')
                .add(b'>');
            let set = if kind == Some(0) { URI } else { COMPONENT };
            Ok(percent_encoding::percent_encode(&s.as_bytes(), set).to_string())
        })?,
    )?;
    ngx.set(
        "unescape_uri",
        lua.create_function(|lua, s: Option<mlua::LuaString>| {
            let s = match s {
                Some(s) => s,
                None => lua.create_string("")?,
            };
            lua.create_string(unescape(&String::from_utf8_lossy(&s.as_bytes())))
        })?,
    )?;
    ngx.set(
        "encode_args",
        lua.create_function(|_, t: Table| {
            const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                .remove(b'-')
                .remove(b'.')
                .remove(b'_')
                .remove(b'~')
                .remove(b'*');
            let arg_text = |v: &Value| -> LResult<String> {
                match v {
                    Value::String(_) | Value::Integer(_) | Value::Number(_) => header_text(v),
                    other => Err(rt(format!(
                        "attempt to use {} as query arg value",
                        other.type_name()
                    ))),
                }
            };
            let enc = |s: &[u8]| percent_encoding::percent_encode(s, SET).to_string();
            let mut parts = vec![];
            for pair in t.pairs::<mlua::LuaString, Value>() {
                let (k, v) = pair?;
                let k = enc(&k.as_bytes());
                match v {
                    Value::Boolean(true) => parts.push(k),
                    Value::Boolean(false) => {}
                    Value::Table(arr) => {
                        for item in arr.sequence_values::<Value>() {
                            match item? {
                                Value::Boolean(true) => parts.push(k.clone()),
                                Value::Boolean(false) => {}
                                other => {
                                    parts.push(format!("{k}={}", enc(arg_text(&other)?.as_bytes())))
                                }
                            }
                        }
                    }
                    other => parts.push(format!("{k}={}", enc(arg_text(&other)?.as_bytes()))),
                }
            }
            Ok(parts.join("&"))
        })?,
    )?;
    ngx.set(
        "decode_args",
        lua.create_function(|lua, (s, max): (String, Option<usize>)| {
            with_truncated(lua, lua_args_table(lua, &s, max.unwrap_or(100))?)
        })?,
    )?;
    ngx.set(
        "quote_sql_str",
        lua.create_function(|lua, s: mlua::LuaString| {
            let mut out: Vec<u8> = vec![b'\''];
            for &b in s.as_bytes().iter() {
                match b {
                    0 => out.extend_from_slice(b"\\0"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    8 => out.extend_from_slice(b"\\b"),
                    26 => out.extend_from_slice(b"\\Z"),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\'' => out.extend_from_slice(b"\\'"),
                    b'"' => out.extend_from_slice(b"\\\""),
                    b => out.push(b),
                }
            }
            out.push(b'\'');
            lua.create_string(out)
        })?,
    )?;
    ngx.set(
        "get_phase",
        lua.create_function(|_, ()| {
            Ok(
                super::req::with_state(|st| Ok(st.phase.name())).unwrap_or_else(|_| {
                    super::req::BARE_PHASE
                        .with(|b| b.get())
                        .map(|p| p.name())
                        .unwrap_or("init")
                }),
            )
        })?,
    )?;
    Ok(())
}
