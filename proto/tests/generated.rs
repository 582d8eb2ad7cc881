//! `src/message.rs` is checked in so that building hekad needs no protobuf
//! compiler at all; this test regenerates it with protox (a protobuf compiler
//! in pure Rust) and prost-build, and fails when the checked-in copy is stale.
//!
//! Regenerate after editing `message.proto`:
//! `HEKA_PROTO_BLESS=1 cargo test -p heka-proto --test proto generated`.

use std::path::Path;

/// `FieldDescriptorProto.Type` values (descriptor.proto): TYPE_STRING, TYPE_BYTES.
const TYPE_STRING: i32 = 9;
const TYPE_BYTES: i32 = 12;

const BANNER: &str = "\
// @generated from proto/message.proto by proto/tests/generated.rs; do not edit.
// String fields are generated as `Bytes` (see the crate docs: Heka's strings are
// byte strings on the wire, and non-UTF-8 text must pass through untouched).
// Regenerate: HEKA_PROTO_BLESS=1 cargo test -p heka-proto --test proto generated
";

fn generate() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut fds = protox::Compiler::new([dir])
        .expect("protox compiler")
        .include_source_info(true)
        .open_file("message.proto")
        .expect("message.proto compiles")
        .file_descriptor_set();
    // The one deliberate change: `string` is the same wire type as `bytes`
    // (length-delimited), so generating strings as `Bytes` keeps the wire
    // format while accepting the non-UTF-8 text Heka's Go code accepted.
    for file in &mut fds.file {
        for message in &mut file.message_type {
            for field in &mut message.field {
                if field.r#type == Some(TYPE_STRING) {
                    field.r#type = Some(TYPE_BYTES);
                }
            }
        }
    }
    let out = tempfile::tempdir().expect("temporary directory");
    prost_build::Config::new()
        .bytes(["."])
        .out_dir(out.path())
        .compile_fds(fds)
        .expect("prost-build generates code");
    let code = std::fs::read_to_string(out.path().join("message.rs")).expect("generated file");
    format!("{BANNER}\n{code}")
}

#[test]
fn generated_code_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/message.rs");
    let fresh = generate();
    if std::env::var_os("HEKA_PROTO_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write src/message.rs");
        return;
    }
    let current = std::fs::read_to_string(&path).expect("read src/message.rs");
    assert!(
        current == fresh,
        "proto/src/message.rs is stale: regenerate it with \
         HEKA_PROTO_BLESS=1 cargo test -p heka-proto --test proto generated"
    );
}
