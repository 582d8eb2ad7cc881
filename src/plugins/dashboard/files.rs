//! DashboardOutput's working directory: emptied and filled with the UI at
//! start, then kept current from the messages the output receives. Every
//! file is written whole to a hidden temporary name and renamed over the
//! old one, so the browser never reads half a file. File names made from
//! message fields are reduced to ASCII word characters and dots, so no
//! message can name a path outside `data/`.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use serde_json::json;

/// The folder under the working directory the data files go to.
pub const DATA_DIR: &str = "data";
/// The all-report payload.
pub const REPORT_FILE: &str = "heka_report.json";
/// The list of sandbox outputs.
pub const SANDBOXES_FILE: &str = "sandboxes.json";
/// The sandbox terminations, one tab-separated line each.
pub const TERMINATIONS_FILE: &str = "heka_sandbox_termination.tsv";
/// How many characters of a `payload_name` a file name keeps (Heka's).
pub const MAX_NAME_CHARS: usize = 64;
/// How many sandbox outputs are listed (and written); more are refused so
/// a stream of distinct names cannot fill the disk.
pub const MAX_OUTPUTS: usize = 1024;
/// How many termination lines the tsv keeps (the newest).
pub const MAX_TERMINATIONS: usize = 1000;
/// The longest termination line kept, in bytes.
pub const MAX_LINE: usize = 4096;

/// The UI written when `<share_dir>/<static_directory>` is absent: ours,
/// kept in the repository under `sandboxes/dasher/`.
pub const BUILT_IN_UI: [(&str, &str); 2] = [
    (
        "index.html",
        include_str!("../../../sandboxes/dasher/index.html"),
    ),
    (
        "dasher.js",
        include_str!("../../../sandboxes/dasher/dasher.js"),
    ),
];

/// How deep a static UI tree is copied.
const MAX_STATIC_DEPTH: usize = 8;

/// Keeps ASCII letters, digits and `_` (Go's `\W` removed), at most `max`
/// of them.
pub fn word_chars(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(max)
        .collect()
}

/// The file (under `data/`) a sandbox output is written to:
/// `<logger>.<payload_name>.<payload_type>`. The name loses its non-word
/// characters and is cut at 64 (Heka's rule); the logger and the type,
/// which Heka used as they came, keep only word characters and `-` here,
/// so the result is one path component that is never `.` or `..`. An
/// empty logger becomes `_`, an empty type `txt`.
pub fn output_file_name(logger: &str, payload_name: &str, payload_type: &str) -> String {
    let keep = |c: &char| c.is_ascii_alphanumeric() || *c == '_' || *c == '-';
    let mut logger: String = logger.chars().filter(keep).take(128).collect();
    if logger.is_empty() {
        logger.push('_');
    }
    let mut kind = word_chars(payload_type, 32);
    if kind.is_empty() {
        kind.push_str("txt");
    }
    format!(
        "{logger}.{}.{kind}",
        word_chars(payload_name, MAX_NAME_CHARS)
    )
}

/// Writes `data` to `path` through a temporary file in the same folder and
/// a rename, so readers see the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The sandbox outputs seen so far, by filter and output name, and what
/// `sandboxes.json` says about them.
#[derive(Debug, Default)]
pub struct Sandboxes {
    filters: BTreeMap<String, BTreeMap<String, String>>,
    count: usize,
}

/// What [`Sandboxes::add`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// Already listed: only its file needs writing.
    Known(String),
    /// Newly listed: its file and `sandboxes.json` need writing.
    New(String),
    /// Over [`MAX_OUTPUTS`]: neither listed nor written.
    Refused,
}

impl Sandboxes {
    /// Notes that filter `logger` produced output `payload_name` of
    /// `payload_type`; the file name to write it to.
    pub fn add(&mut self, logger: &str, payload_name: &str, payload_type: &str) -> Added {
        if let Some(file) = self.filters.get(logger).and_then(|o| o.get(payload_name)) {
            return Added::Known(file.clone());
        }
        if self.count >= MAX_OUTPUTS {
            return Added::Refused;
        }
        let file = output_file_name(logger, payload_name, payload_type);
        self.count += 1;
        self.filters
            .entry(logger.to_owned())
            .or_default()
            .insert(payload_name.to_owned(), file.clone());
        Added::New(file)
    }

    /// The text of `sandboxes.json`:
    /// `{"sandboxes":[{"Name":..,"Outputs":[{"Name":..,"Filename":"data/.."}]}]}`.
    pub fn to_json(&self) -> String {
        let sandboxes: Vec<_> = self
            .filters
            .iter()
            .map(|(name, outputs)| {
                let outputs: Vec<_> = outputs
                    .iter()
                    .map(|(output, file)| {
                        json!({ "Name": output, "Filename": format!("{DATA_DIR}/{file}") })
                    })
                    .collect();
                json!({ "Name": name, "Outputs": outputs })
            })
            .collect();
        json!({ "sandboxes": sandboxes }).to_string()
    }
}

/// The newest sandbox terminations, as the lines of the tsv.
#[derive(Debug, Default)]
pub struct Terminations {
    lines: VecDeque<String>,
}

impl Terminations {
    /// Adds `<unix secs>\t<plugin>\t<payload>`; tabs and line breaks in the
    /// texts become spaces so one termination stays one line.
    pub fn add(&mut self, unix_secs: i64, plugin: &str, payload: &str) {
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        let mut line = format!("{unix_secs}\t{}\t{}", clean(plugin), clean(payload));
        if line.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
        }
        line.push('\n');
        if self.lines.len() == MAX_TERMINATIONS {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The tsv's text.
    pub fn text(&self) -> String {
        self.lines.iter().map(String::as_str).collect()
    }
}

/// Empties the working directory `dir` of what an earlier run left (its
/// files and those of `data/`; other folders are left alone), then fills
/// it with the UI: the tree at `static_dir` when it exists, ours
/// otherwise. Errors name the path.
pub fn prepare_directory(dir: &Path, static_dir: &Path) -> Result<(), String> {
    let data = dir.join(DATA_DIR);
    std::fs::create_dir_all(&data).map_err(|e| at(&data, "creating", e))?;
    for folder in [dir, data.as_path()] {
        remove_files(folder).map_err(|e| at(folder, "emptying", e))?;
    }
    if static_dir.is_dir() {
        copy_tree(static_dir, dir, 0)
    } else {
        for (name, text) in BUILT_IN_UI {
            let path = dir.join(name);
            write_atomic(&path, text.as_bytes()).map_err(|e| at(&path, "writing", e))?;
        }
        Ok(())
    }
}

/// `"<verb> <path>: <error>"`.
pub fn at(path: &Path, verb: &str, err: io::Error) -> String {
    format!("{verb} {}: {err}", path.display())
}

/// Removes the files and symbolic links directly in `dir`.
fn remove_files(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Copies the regular files and folders of `from` into `to` (symbolic
/// links are skipped: only what is really in the UI folder is served).
fn copy_tree(from: &Path, to: &Path, depth: usize) -> Result<(), String> {
    if depth > MAX_STATIC_DEPTH {
        return Err(format!(
            "{}: static files nest more than {MAX_STATIC_DEPTH} deep",
            from.display()
        ));
    }
    let entries = std::fs::read_dir(from).map_err(|e| at(from, "reading", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| at(from, "reading", e))?;
        let (source, target): (PathBuf, PathBuf) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| at(&source, "reading", e))?;
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| at(&target, "creating", e))?;
            copy_tree(&source, &target, depth + 1)?;
        } else if kind.is_file() {
            std::fs::copy(&source, &target).map_err(|e| at(&target, "copying to", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_keep_word_characters_and_stay_one_component() {
        assert_eq!(
            output_file_name("http_status", "HTTP Status", "cbuf"),
            "http_status.HTTPStatus.cbuf"
        );
        assert_eq!(
            output_file_name("mgr-counter", "a/b\\c..d", "txt"),
            "mgr-counter.abcd.txt"
        );
        // Hostile loggers and types cannot climb out of data/.
        assert_eq!(
            output_file_name("../../x", "../../y", "/../../etc"),
            "x.y.etc"
        );
        assert_eq!(output_file_name("", "", ""), "_..txt");
        assert_eq!(output_file_name("..", "..", ".."), "_..txt");
        let long = "n".repeat(100);
        let name = output_file_name("f", &format!("é{long}"), "json");
        assert_eq!(name, format!("f.{}.json", "n".repeat(64)));
        for hostile in ["..", "../..", "/", "\0", "a/../../b", "C:\\x"] {
            let name = output_file_name(hostile, hostile, hostile);
            assert!(!name.contains(['/', '\\', '\0']), "{name}");
            assert!(name != "." && name != "..", "{name}");
        }
    }

    #[test]
    fn sandboxes_json_lists_each_output_once_with_its_file() {
        let mut s = Sandboxes::default();
        assert_eq!(
            s.add("counter", "count", "txt"),
            Added::New("counter.count.txt".into())
        );
        assert_eq!(
            s.add("counter", "count", "txt"),
            Added::Known("counter.count.txt".into())
        );
        assert_eq!(
            s.add("http", "HTTP Status", "cbuf"),
            Added::New("http.HTTPStatus.cbuf".into())
        );
        s.add("counter", "rate", "");
        let doc: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(
            doc,
            json!({"sandboxes": [
                {"Name": "counter", "Outputs": [
                    {"Name": "count", "Filename": "data/counter.count.txt"},
                    {"Name": "rate", "Filename": "data/counter.rate.txt"}]},
                {"Name": "http", "Outputs": [
                    {"Name": "HTTP Status", "Filename": "data/http.HTTPStatus.cbuf"}]}
            ]})
        );
    }

    #[test]
    fn outputs_past_the_limit_are_refused_but_known_ones_still_written() {
        let mut s = Sandboxes::default();
        for i in 0..MAX_OUTPUTS {
            assert!(matches!(s.add("f", &format!("o{i}"), "txt"), Added::New(_)));
        }
        assert_eq!(s.add("f", "one more", "txt"), Added::Refused);
        assert_eq!(s.add("f", "o0", "txt"), Added::Known("f.o0.txt".into()));
    }

    #[test]
    fn terminations_stay_one_line_each_and_keep_the_newest() {
        let mut t = Terminations::default();
        t.add(17, "lua", "line 1\nline\t2");
        assert_eq!(t.text(), "17\tlua\tline 1 line 2\n");
        for i in 0..MAX_TERMINATIONS as i64 {
            t.add(100 + i, "f", &"é".repeat(5000));
        }
        let text = t.text();
        assert_eq!(text.lines().count(), MAX_TERMINATIONS);
        assert!(text.starts_with("100\tf\t"));
        assert!(text.lines().all(|l| l.len() <= MAX_LINE));
    }

    #[test]
    fn the_directory_is_emptied_then_filled_with_the_static_tree_or_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dashboard");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::create_dir_all(dir.join("keep")).unwrap();
        std::fs::write(dir.join("old.html"), "old").unwrap();
        std::fs::write(dir.join("data/old.txt"), "old").unwrap();
        std::fs::write(dir.join("keep/mine"), "mine").unwrap();
        prepare_directory(&dir, &tmp.path().join("absent")).unwrap();
        assert!(!dir.join("old.html").exists());
        assert!(!dir.join("data/old.txt").exists());
        assert!(dir.join("keep/mine").exists());
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert_eq!(index, BUILT_IN_UI[0].1);

        let ui = tmp.path().join("dasher");
        std::fs::create_dir_all(ui.join("css")).unwrap();
        std::fs::write(ui.join("index.html"), "theirs").unwrap();
        std::fs::write(ui.join("css/a.css"), "body{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ui.join("passwd")).unwrap();
        prepare_directory(&dir, &ui).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("index.html")).unwrap(),
            "theirs"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("css/a.css")).unwrap(),
            "body{}"
        );
        assert!(!dir.join("dasher.js").exists());
        assert!(!dir.join("passwd").exists());
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
