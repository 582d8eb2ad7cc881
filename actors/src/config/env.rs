//! `%ENV[NAME]` substitution on the raw config text, before TOML parsing
//! (HEKA-SPEC §3.1), and the map from the substituted text back to the
//! file's own line numbers, so later errors point at the line the user wrote.
//!
//! Rules, as Heka's `ReplaceEnvsFile`: NAME ends at the first `]` after
//! `%ENV[` (even on a later line); a NAME holding a newline, CR, TAB, space
//! or another `%ENV[` is an error; no `]` at all is an error; an unset
//! variable becomes the empty string; a `%` not followed by `ENV[` is copied
//! unchanged; there is no escape.
//!
//! Line numbers: a value holding newlines would shift every later line of
//! the substituted text. The map below only counts the newlines that were in
//! the file, so lines stay exact; columns are counted in the substituted
//! text (a value earlier on the same line shifts them).

use std::path::Path;

use super::error::{ConfigError, ErrorKind};

const OPEN: &str = "%ENV[";
const INVALID_NAME_CHARS: [char; 4] = ['\n', '\r', '\t', ' '];

/// Config text after substitution, with its original line numbering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    /// The substituted text, ready for the TOML parser.
    pub text: String,
    /// Byte offsets in `text` where each line of the original file starts.
    line_starts: Vec<usize>,
}

impl Expanded {
    /// Text that needs no substitution (line numbers are its own).
    pub fn plain(text: &str) -> Expanded {
        let mut expanded = Expanded {
            text: String::with_capacity(text.len()),
            line_starts: vec![0],
        };
        expanded.copy(text);
        expanded
    }

    /// 1-based line in the original file of byte `offset` of `text`.
    pub fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// 1-based (line, column) of byte `offset` of `text`; the column counts
    /// characters of the substituted text.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self.line_starts[line - 1];
        let offset = offset.min(self.text.len());
        let column = match self.text.get(start..offset) {
            Some(prefix) => prefix.chars().count(),
            None => offset - start,
        };
        (line, column + 1)
    }

    /// Appends file text, recording where its lines start.
    fn copy(&mut self, original: &str) {
        for (i, _) in original.match_indices('\n') {
            self.line_starts.push(self.text.len() + i + 1);
        }
        self.text.push_str(original);
    }
}

/// Replaces every `%ENV[NAME]` in `text` by `env(NAME)` (unset ⇒ empty).
/// Errors name `file` and the line of the offending `%ENV[`; all of them are
/// returned, not just the first.
pub fn expand_env(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, Vec<ConfigError>> {
    let mut out = Expanded {
        text: String::with_capacity(text.len()),
        line_starts: vec![0],
    };
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        out.copy(&rest[..at]);
        // Everything before `at` is copied, so the lines so far are exactly
        // the original lines before this `%ENV[`.
        let line = out.line_starts.len();
        let after_open = &rest[at + OPEN.len()..];
        let Some(close) = after_open.find(']') else {
            errors.push(ConfigError::new(file, line, ErrorKind::EnvMissingDelimiter));
            rest = after_open;
            out.copy(OPEN);
            // No `]` anywhere after: every later `%ENV[` lacks one too.
            break;
        };
        let name = &after_open[..close];
        if name.contains(INVALID_NAME_CHARS) || name.contains(OPEN) {
            errors.push(ConfigError::new(
                file,
                line,
                ErrorKind::EnvInvalidChars(name.to_owned()),
            ));
            // Keep scanning just after this `%ENV[` to report later ones.
            out.copy(OPEN);
            rest = after_open;
            continue;
        }
        out.text.push_str(&env(name).unwrap_or_default());
        rest = &after_open[close + 1..];
    }
    out.copy(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The process environment, as Heka reads it (non-UTF-8 values lossily).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db1".into()),
            "TWO_LINES" => Some("a\nb".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn expand(text: &str) -> Result<Expanded, Vec<ConfigError>> {
        expand_env(text, Path::new("t.toml"), &env)
    }

    #[test]
    fn replaces_set_and_unset_variables() {
        let e = expand("a = \"%ENV[HOST]:%ENV[EMPTY]%ENV[NOPE]x\"\n").unwrap();
        assert_eq!(e.text, "a = \"db1:x\"\n");
    }

    #[test]
    fn percent_without_env_open_is_copied() {
        let text = "a = \"100% %E %ENV %ENV( %env[HOST] ]\"";
        assert_eq!(expand(text).unwrap().text, text);
    }

    #[test]
    fn name_ends_at_first_bracket() {
        let e = expand("x = \"%ENV[HOST]]\"").unwrap();
        assert_eq!(e.text, "x = \"db1]\"");
    }

    #[test]
    fn missing_delimiter_reports_line_of_the_open() {
        let errs = expand("a = 1\nb = \"%ENV[HOST\"\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 2);
        assert_eq!(errs[0].kind, ErrorKind::EnvMissingDelimiter);
    }

    #[test]
    fn invalid_names_are_all_reported() {
        let text = "a = \"%ENV[A B]\"\nb = \"%ENV[X\tY]\"\nc = \"%ENV[%ENV[HOST]]\"\nd = \"%ENV[LINE\nBREAK]\"";
        let errs = expand(text).unwrap_err();
        let got: Vec<(usize, &ErrorKind)> = errs.iter().map(|e| (e.line, &e.kind)).collect();
        assert_eq!(
            got,
            vec![
                (1, &ErrorKind::EnvInvalidChars("A B".into())),
                (2, &ErrorKind::EnvInvalidChars("X\tY".into())),
                (3, &ErrorKind::EnvInvalidChars("%ENV[HOST".into())),
                (4, &ErrorKind::EnvInvalidChars("LINE\nBREAK".into())),
            ]
        );
    }

    #[test]
    fn carriage_return_in_name_is_invalid() {
        let errs = expand("a = \"%ENV[A\r]\"").unwrap_err();
        assert_eq!(errs[0].kind, ErrorKind::EnvInvalidChars("A\r".into()));
    }

    #[test]
    fn lines_survive_values_with_newlines() {
        let e = expand("a = '''%ENV[TWO_LINES]'''\nb = 2\nc = 3").unwrap();
        let c = e.text.find("c = 3").unwrap();
        let b = e.text.find("b = 2").unwrap();
        assert_eq!(e.line(b), 2);
        assert_eq!(e.line(c), 3);
        assert_eq!(e.position(c + 4), (3, 5));
    }

    #[test]
    fn plain_text_positions() {
        let e = Expanded::plain("ab\nçd\n");
        assert_eq!(e.position(0), (1, 1));
        assert_eq!(e.position(3), (2, 1));
        // 'd' is after the two-byte 'ç': byte 5, column 2.
        assert_eq!(e.position(5), (2, 2));
        assert_eq!(e.line(e.text.len()), 3);
    }
}
