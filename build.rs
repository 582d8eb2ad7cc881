//! Build script of hekad: with the `lpeg` feature it links Debian's static
//! LPeg archive (package `lua-lpeg-dev`) and copies `re.lua` (package
//! `lua-lpeg`) into `OUT_DIR` for `include_str!`. Without the feature it does
//! nothing, so the default build needs no system package.
//!
//! Overrides for other layouts:
//! - `HEKAD_LPEG_LIB`: the static archive (`.../liblua5.1-lpeg.a`, or any
//!   `lib<name>.a` built against Lua 5.1 headers that defines `luaopen_lpeg`).
//! - `HEKAD_LPEG_RE`: the `re.lua` to embed.

use std::env;
use std::path::{Path, PathBuf};

const LIB_FILE: &str = "liblua5.1-lpeg.a";
const RE_FILE: &str = "/usr/share/lua/5.1/re.lua";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HEKAD_LPEG_LIB");
    println!("cargo:rerun-if-env-changed=HEKAD_LPEG_RE");
    if env::var_os("CARGO_FEATURE_LPEG").is_none() {
        return;
    }
    if let Err(e) = lpeg() {
        // A panic shows the message in cargo's output and fails the build.
        panic!("\n\nhekad feature `lpeg`: {e}\n\n");
    }
}

fn lpeg() -> Result<(), String> {
    let lib = match env::var_os("HEKAD_LPEG_LIB") {
        Some(path) => PathBuf::from(path),
        None => find_lib()?,
    };
    let bytes = std::fs::read(&lib).map_err(|e| format!("cannot read {}: {e}", lib.display()))?;
    if !bytes.starts_with(b"!<arch>\n") {
        return Err(format!("{} is not a static archive (ar)", lib.display()));
    }
    if !bytes.windows(12).any(|w| w == b"luaopen_lpeg") {
        return Err(format!("{} does not define luaopen_lpeg", lib.display()));
    }
    let name = lib
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("lib"))
        .and_then(|n| n.strip_suffix(".a"))
        .ok_or_else(|| format!("{} is not named lib<name>.a", lib.display()))?;
    let dir = lib.parent().unwrap_or(Path::new("."));
    println!("cargo:rerun-if-changed={}", lib.display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static={name}");

    let re = env::var_os("HEKAD_LPEG_RE").map_or_else(|| PathBuf::from(RE_FILE), PathBuf::from);
    if !re.is_file() {
        return Err(format!(
            "{} not found: install the Debian package lua-lpeg \
             (apt-get install lua-lpeg) or set HEKAD_LPEG_RE to a re.lua",
            re.display()
        ));
    }
    println!("cargo:rerun-if-changed={}", re.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?).join("re.lua");
    std::fs::copy(&re, &out)
        .map_err(|e| format!("cannot copy {} to {}: {e}", re.display(), out.display()))?;
    Ok(())
}

/// Debian's multiarch directory for the target, then the plain ones.
fn find_lib() -> Result<PathBuf, String> {
    let mut dirs = Vec::new();
    if let Ok(target) = env::var("TARGET") {
        let mut parts = target.split('-');
        let arch = match parts.next().unwrap_or_default() {
            "i586" | "i686" => "i386",
            a if a.starts_with("armv") => "arm",
            a => a,
        };
        if let (Some("linux"), Some(abi)) = (parts.nth(1), parts.next()) {
            dirs.push(format!("/usr/lib/{arch}-linux-{abi}"));
        }
    }
    dirs.extend(["/usr/lib".into(), "/usr/local/lib".into()]);
    dirs.iter()
        .map(|d| Path::new(d).join(LIB_FILE))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "{LIB_FILE} not found in {}: install the Debian package lua-lpeg-dev \
                 (apt-get install lua-lpeg-dev) or set HEKAD_LPEG_LIB to the archive",
                dirs.join(", ")
            )
        })
}
