//! A Heka record producer written independently of heka-proto's encoder, so
//! that tests read records made by "another producer": protobuf is written
//! byte by byte the way Heka's Go marshaller wrote it (fields in tag order,
//! packed repeated numbers, negative int32 as a 5-byte varint) or the way
//! the Lua sandbox wrote it (a single number unpacked), and the framing
//! header is assembled by hand.

/// Values of one field.
#[derive(Debug, Clone)]
pub enum Values {
    Str(Vec<Vec<u8>>),
    Bytes(Vec<Vec<u8>>),
    Int(Vec<i64>),
    Double(Vec<f64>),
    Bool(Vec<bool>),
}

/// One field.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub name: String,
    pub representation: Option<String>,
    pub values: Values,
}

/// One message, with `None` for unset optional headers.
#[derive(Debug, Clone, Default)]
pub struct MessageSpec {
    pub uuid: [u8; 16],
    pub timestamp: i64,
    pub msg_type: Option<Vec<u8>>,
    pub logger: Option<Vec<u8>>,
    pub severity: Option<i32>,
    pub payload: Option<Vec<u8>>,
    pub env_version: Option<Vec<u8>>,
    pub pid: Option<i32>,
    pub hostname: Option<Vec<u8>>,
    pub fields: Vec<FieldSpec>,
}

/// Which writer's habits to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Heka's Go marshaller.
    Go,
    /// The Lua sandbox encoder: single numbers unpacked.
    Lua,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, field << 3 | wire);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// int32 as Go wrote it: the uint32 bit pattern, so -1 takes 5 bytes.
fn go_int32(out: &mut Vec<u8>, field: u64, v: i32) {
    key(out, field, 0);
    varint(out, u64::from(v as u32));
}

fn field_bytes(f: &FieldSpec, style: Style) -> Vec<u8> {
    let mut out = Vec::new();
    bytes_field(&mut out, 1, f.name.as_bytes());
    let value_type = match f.values {
        Values::Str(_) => 0,
        Values::Bytes(_) => 1,
        Values::Int(_) => 2,
        Values::Double(_) => 3,
        Values::Bool(_) => 4,
    };
    key(&mut out, 2, 0);
    varint(&mut out, value_type);
    if let Some(r) = &f.representation {
        bytes_field(&mut out, 3, r.as_bytes());
    }
    let single = style == Style::Lua;
    match &f.values {
        Values::Str(v) => v.iter().for_each(|s| bytes_field(&mut out, 4, s)),
        Values::Bytes(v) => v.iter().for_each(|s| bytes_field(&mut out, 5, s)),
        Values::Int(v) if single && v.len() == 1 => {
            key(&mut out, 6, 0);
            varint(&mut out, v[0] as u64);
        }
        Values::Int(v) => {
            let mut packed = Vec::new();
            v.iter().for_each(|&i| varint(&mut packed, i as u64));
            bytes_field(&mut out, 6, &packed);
        }
        Values::Double(v) if single && v.len() == 1 => {
            key(&mut out, 7, 1);
            out.extend_from_slice(&v[0].to_le_bytes());
        }
        Values::Double(v) => {
            let packed: Vec<u8> = v.iter().flat_map(|d| d.to_le_bytes()).collect();
            bytes_field(&mut out, 7, &packed);
        }
        Values::Bool(v) if single && v.len() == 1 => {
            key(&mut out, 8, 0);
            varint(&mut out, u64::from(v[0]));
        }
        Values::Bool(v) => {
            let packed: Vec<u8> = v.iter().map(|&b| u8::from(b)).collect();
            bytes_field(&mut out, 8, &packed);
        }
    }
    out
}

/// The protobuf encoding of `m`.
pub fn encode(m: &MessageSpec, style: Style) -> Vec<u8> {
    let mut out = Vec::new();
    bytes_field(&mut out, 1, &m.uuid);
    key(&mut out, 2, 0);
    varint(&mut out, m.timestamp as u64);
    let text = [(3, &m.msg_type), (4, &m.logger)];
    for (tag, v) in text {
        if let Some(v) = v {
            bytes_field(&mut out, tag, v);
        }
    }
    if let Some(s) = m.severity {
        go_int32(&mut out, 5, s);
    }
    let text = [(6, &m.payload), (7, &m.env_version)];
    for (tag, v) in text {
        if let Some(v) = v {
            bytes_field(&mut out, tag, v);
        }
    }
    if let Some(p) = m.pid {
        go_int32(&mut out, 8, p);
    }
    if let Some(h) = &m.hostname {
        bytes_field(&mut out, 9, h);
    }
    for f in &m.fields {
        bytes_field(&mut out, 10, &field_bytes(f, style));
    }
    out
}

/// A framed, unsigned record around `message`.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut header = Vec::new();
    key(&mut header, 1, 0);
    varint(&mut header, message.len() as u64);
    let mut out = vec![0x1e, header.len() as u8];
    out.extend(header);
    out.push(0x1f);
    out.extend_from_slice(message);
    out
}

/// The record set behind `tests/data/sample.heka` and the heka-cat tests:
/// `n` messages from a made-up web service, deterministic, in Go style
/// except every fifth in Lua style.
pub fn sample(n: usize) -> Vec<MessageSpec> {
    (0..n)
        .map(|i| {
            let status = [200i64, 200, 404, 200, 500, 301, 200][i % 7];
            let mut uuid = [0u8; 16];
            uuid[..8].copy_from_slice(&(i as u64).to_be_bytes());
            uuid[8..].copy_from_slice(&0x4a5b_6c7d_8e9f_0a1bu64.to_be_bytes());
            MessageSpec {
                uuid,
                timestamp: 1_400_000_000_000_000_000 + i as i64 * 1_000_000_007,
                msg_type: Some(if i % 3 == 0 {
                    b"nginx.access".to_vec()
                } else {
                    b"app.log".to_vec()
                }),
                logger: Some(b"sample".to_vec()),
                severity: Some(if status >= 500 { 3 } else { 6 }),
                payload: Some(format!("GET /item/{i} HTTP/1.1 {status}").into_bytes()),
                env_version: None,
                pid: Some(if i == 7 { -1 } else { 4242 }),
                hostname: Some(b"web-1.example.com".to_vec()),
                fields: vec![
                    FieldSpec {
                        name: "status".into(),
                        representation: None,
                        values: Values::Int(vec![status]),
                    },
                    FieldSpec {
                        name: "path".into(),
                        representation: Some("uri".into()),
                        values: Values::Str(vec![format!("/item/{i}").into_bytes()]),
                    },
                    FieldSpec {
                        name: "latency".into(),
                        representation: Some("s".into()),
                        values: Values::Double(vec![0.001 * (i % 50) as f64]),
                    },
                    FieldSpec {
                        name: "trace".into(),
                        representation: None,
                        values: Values::Bytes(vec![(i as u32).to_be_bytes().to_vec()]),
                    },
                    FieldSpec {
                        name: "cached".into(),
                        representation: None,
                        values: Values::Bool(vec![i % 4 == 0]),
                    },
                ],
            }
        })
        .collect()
}

/// The style `sample` record `i` is written in.
pub fn sample_style(i: usize) -> Style {
    if i % 5 == 4 { Style::Lua } else { Style::Go }
}

/// The framed bytes of `sample(n)`, one record after another.
pub fn sample_stream(n: usize) -> Vec<u8> {
    sample(n)
        .iter()
        .enumerate()
        .flat_map(|(i, m)| frame(&encode(m, sample_style(i))))
        .collect()
}
