//! Response compression primitives: `Accept-Encoding` negotiation and incremental gzip,
//! brotli and zstd encoders that can flush mid-stream (so a streamed response, e.g. SSE,
//! still reaches the client event by event). No hyper types here.

use std::io::Write;

/// A content coding OpenClaw can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Zstd,
    Brotli,
    Gzip,
}

impl Encoding {
    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// Preference on equal q-values: zstd, then br, then gzip.
    fn rank(self) -> u8 {
        match self {
            Encoding::Zstd => 3,
            Encoding::Brotli => 2,
            Encoding::Gzip => 1,
        }
    }
}

/// The q-value the client gives `token` (`*` counts for codings it does not name);
/// None when it does not accept it at all.
fn qvalue(accept: &str, token: &str) -> Option<u32> {
    let mut star = None;
    for part in accept.split(',') {
        let mut it = part.split(';');
        let name = it.next().unwrap_or("").trim();
        let mut q = 1000;
        for param in it {
            if let Some(v) = param
                .trim()
                .strip_prefix("q=")
                .or_else(|| param.trim().strip_prefix("Q="))
            {
                q = parse_q(v.trim());
            }
        }
        if name.eq_ignore_ascii_case(token)
            || (token == "gzip" && name.eq_ignore_ascii_case("x-gzip"))
        {
            return (q > 0).then_some(q);
        }
        if name == "*" {
            star = Some(q);
        }
    }
    star.filter(|q| *q > 0)
}

/// `q=0.5` as thousandths (HTTP allows three decimals); malformed counts as 0.
fn parse_q(v: &str) -> u32 {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let i: u32 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return 0,
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let f: u32 = format!("{frac:0<3}").parse().unwrap_or(0);
    (i + f).min(1000)
}

/// The best coding among `enabled` that `accept` allows: highest q-value, ties broken by
/// zstd > br > gzip.
pub fn negotiate(accept: &str, enabled: &[Encoding]) -> Option<Encoding> {
    enabled
        .iter()
        .filter_map(|e| qvalue(accept, e.token()).map(|q| (q, e.rank(), *e)))
        .max_by_key(|(q, r, _)| (*q, *r))
        .map(|(_, _, e)| e)
}

enum Inner {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

/// An incremental encoder: feed input, take the output produced so far.
pub struct Encoder {
    inner: Inner,
}

impl Encoder {
    /// `level`: gzip 1-9, brotli 0-11, zstd 1-22 (clamped).
    pub fn new(enc: Encoding, level: i32) -> std::io::Result<Encoder> {
        let inner = match enc {
            Encoding::Gzip => Inner::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(level.clamp(1, 9) as u32),
            )),
            Encoding::Brotli => Inner::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                level.clamp(0, 11) as u32,
                22,
            ))),
            Encoding::Zstd => Inner::Zstd(zstd::stream::write::Encoder::new(
                Vec::new(),
                level.clamp(1, 22),
            )?),
        };
        Ok(Encoder { inner })
    }

    fn out(&mut self) -> &mut Vec<u8> {
        match &mut self.inner {
            Inner::Gzip(e) => e.get_mut(),
            Inner::Brotli(e) => e.get_mut(),
            Inner::Zstd(e) => e.get_mut(),
        }
    }

    /// Compresses `data`; returns whatever output is ready (maybe nothing).
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        match &mut self.inner {
            Inner::Gzip(e) => e.write_all(data)?,
            Inner::Brotli(e) => e.write_all(data)?,
            Inner::Zstd(e) => e.write_all(data)?,
        }
        Ok(std::mem::take(self.out()))
    }

    /// Emits everything written so far as decodable output (a sync flush).
    pub fn flush(&mut self) -> std::io::Result<Vec<u8>> {
        match &mut self.inner {
            Inner::Gzip(e) => e.flush()?,
            Inner::Brotli(e) => e.flush()?,
            Inner::Zstd(e) => e.flush()?,
        }
        Ok(std::mem::take(self.out()))
    }

    /// Ends the stream; returns the rest of the output.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        match self.inner {
            Inner::Gzip(e) => e.finish(),
            Inner::Brotli(mut e) => {
                e.flush()?;
                Ok(e.into_inner())
            }
            Inner::Zstd(e) => e.finish(),
        }
    }
}

/// Compresses a whole buffer.
pub fn compress_all(enc: Encoding, level: i32, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut e = Encoder::new(enc, level)?;
    let mut out = e.write(data)?;
    out.extend(e.finish()?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const ALL: [Encoding; 3] = [Encoding::Gzip, Encoding::Brotli, Encoding::Zstd];

    #[test]
    fn negotiation_follows_q_values_and_prefers_zstd_on_ties() {
        assert_eq!(
            negotiate("gzip, deflate, br, zstd", &ALL),
            Some(Encoding::Zstd)
        );
        assert_eq!(negotiate("gzip, br", &ALL), Some(Encoding::Brotli));
        assert_eq!(negotiate("gzip;q=1, br;q=0.5", &ALL), Some(Encoding::Gzip));
        assert_eq!(negotiate("br;q=0, gzip;q=0.1", &ALL), Some(Encoding::Gzip));
        assert_eq!(negotiate("gzip;q=0", &ALL), None);
        assert_eq!(negotiate("identity", &ALL), None);
        assert_eq!(negotiate("*", &[Encoding::Gzip]), Some(Encoding::Gzip));
        assert_eq!(negotiate("*;q=0, gzip", &ALL), Some(Encoding::Gzip));
        assert_eq!(negotiate("zstd", &[Encoding::Gzip]), None);
    }

    #[test]
    fn streams_round_trip_with_flushes() {
        let text = b"data: hello\n\n".repeat(50);
        for enc in ALL {
            let mut e = Encoder::new(enc, 5).unwrap();
            let mut out = e.write(&text[..300]).unwrap();
            out.extend(e.flush().unwrap());
            let flushed = out.len();
            assert!(flushed > 0, "{enc:?} flush produced output");
            out.extend(e.write(&text[300..]).unwrap());
            out.extend(e.finish().unwrap());
            let mut back = vec![];
            match enc {
                Encoding::Gzip => {
                    flate2::read::GzDecoder::new(&out[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Encoding::Brotli => {
                    brotli::Decompressor::new(&out[..], 4096)
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Encoding::Zstd => {
                    back = zstd::stream::decode_all(&out[..]).unwrap();
                }
            }
            assert_eq!(back, text, "{enc:?}");
        }
    }
}
