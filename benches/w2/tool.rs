//! W2 helper (run by benches/w2.sh): generates the nginx combined log the
//! benchmark reads, and measures the ceiling the pipeline is compared
//! with: one core splitting the same file into lines and applying the same
//! regex (the W2 config's `match_regex`) with captures.
//!
//! `cargo run --release --example w2 -- gen LINES FILE`
//! `cargo run --release --example w2 -- ceiling FILE`
//! `cargo run --release --example w2 -- decode FILE` (from the repository
//! root: hekad's own decoder as benches/w2/w2.toml configures it, on one
//! core, after the ceiling on the same data, with the ratio)

use std::io::{BufWriter, Write};
use std::time::Instant;

/// The W2 decoder's expression (benches/w2/w2.toml and heka.toml.example use the same text): nine
/// named captures.
pub const REGEX: &str = r#"^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<Timestamp>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>[^ "]+) [^"]*" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)""#;

const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/api/v1/users/{}/orders?page={}",
    "/static/js/app.{}.min.js",
    "/images/products/{}/thumbnail-{}.jpg",
    "/search?q=heka+rust&lang=en&page={}",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1",
    "curl/8.4.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
];
const STATUSES: &[u16] = &[200, 200, 200, 200, 200, 304, 301, 404, 500, 503];
/// One line per second from 10 Jan 2024 00:00:00.
const MONTHS: &[&str] = &["Jan", "Feb", "Mar", "Apr", "May", "Jun"];

fn generate(lines: usize, path: &str) -> std::io::Result<()> {
    let mut rng = fastrand::Rng::with_seed(2);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut bytes = 0usize;
    for i in 0..lines {
        let mut p = PATHS[rng.usize(..PATHS.len())].to_owned();
        while let Some(at) = p.find("{}") {
            p.replace_range(at..at + 2, &rng.u32(1..99_999).to_string());
        }
        let line = format!(
            "{}.{}.{}.{} - {} [{:02}/{}/2024:{:02}:{:02}:{:02} +0000] \"{} {} HTTP/1.1\" {} {} \"{}\" \"{}\"\n",
            rng.u8(1..255),
            rng.u8(..),
            rng.u8(..),
            rng.u8(1..255),
            if rng.u8(..10) == 0 { "bob" } else { "-" },
            10 + (i / 86_400) % 18,
            MONTHS[(i / (86_400 * 18)) % MONTHS.len()],
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60,
            if rng.u8(..5) == 0 { "POST" } else { "GET" },
            p,
            STATUSES[rng.usize(..STATUSES.len())],
            rng.u32(..200_000),
            if rng.bool() {
                "-"
            } else {
                "https://www.example.com/"
            },
            AGENTS[rng.usize(..AGENTS.len())],
        );
        bytes += line.len();
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    eprintln!(
        "{lines} lines, {:.1} bytes per line",
        bytes as f64 / lines as f64
    );
    Ok(())
}

fn ceiling(path: &str) -> std::io::Result<()> {
    let data = std::fs::read(path)?;
    let regex = regex::bytes::Regex::new(REGEX).expect("the W2 regex compiles");
    let mut locs = regex.capture_locations();
    let started = Instant::now();
    let (mut lines, mut matched, mut captured) = (0u64, 0u64, 0usize);
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        lines += 1;
        if regex.captures_read(&mut locs, line).is_some() {
            matched += 1;
            // Touch every capture, as a decoder copying them would.
            for i in 1..locs.len() {
                captured += locs.get(i).map_or(0, |(s, e)| e - s);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "ceiling: {lines} lines ({matched} matched, {captured} captured bytes) in {secs:.3} s: {:.0} lines/s on one core",
        lines as f64 / secs
    );
    Ok(())
}

/// Lines per second of `each` applied to every line of `data`, and how
/// many it accepted.
fn rate(data: &[u8], mut each: impl FnMut(&[u8]) -> bool) -> (f64, u64) {
    let started = Instant::now();
    let (mut lines, mut accepted) = (0u64, 0u64);
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        lines += 1;
        accepted += u64::from(each(line));
    }
    (lines as f64 / started.elapsed().as_secs_f64(), accepted)
}

/// hekad's decoder alone against the ceiling: what decoding costs beyond
/// the regex (building, indexing the message), without the pipeline.
fn decode(path: &str) -> std::io::Result<()> {
    use hekad::actors::config::Config;
    use hekad::actors::plugin::{Incoming, TextRecord};
    let data = std::fs::read(path)?;
    let env = |name: &str| {
        let value = match name {
            "W2_DIR" => "/tmp",
            "W2_USE_BUFFERING" => "false",
            _ => "1",
        };
        Some(value.to_owned())
    };
    let config = Config::load_with_env("benches/w2/w2.toml".as_ref(), &env)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let spec = config
        .plugins
        .iter()
        .find(|p| p.name == "nginx")
        .expect("w2.toml has [nginx]");
    let mut decoder = hekad::catalogue::catalogue()
        .decoder(spec, &config.globals, &config.plugins)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let regex = regex::bytes::Regex::new(REGEX).expect("the W2 regex compiles");
    let mut locs = regex.capture_locations();
    let (ceiling, _) = rate(&data, |line| regex.captures_read(&mut locs, line).is_some());
    let buffer = bytes::Bytes::from(data);
    let mut out = Vec::new();
    // The stream's headers, shared by its records as in hekad.
    let stream = TextRecord::new(bytes::Bytes::new(), "host", "access", None, None, &[]);
    let (decoded, ok) = rate(&buffer, |line| {
        out.clear();
        let record = stream.with_payload(buffer.slice_ref(line));
        decoder.decode(Incoming::Text(record), &mut out).is_ok() && out.len() == 1
    });
    println!(
        "decoder: {ok} lines decoded, {decoded:.0} lines/s on one core; ceiling {ceiling:.0}; ratio {:.3}",
        decoded / ceiling
    );
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["gen", lines, file] => generate(lines.parse().expect("LINES is a number"), file),
        ["ceiling", file] => ceiling(file),
        ["decode", file] => decode(file),
        _ => {
            eprintln!("usage: w2 gen LINES FILE | w2 ceiling FILE | w2 decode FILE");
            std::process::exit(2);
        }
    }
}
