//! How LogstreamerInput sees a file name: `file_match` decides whether a
//! path (relative to `log_directory`) belongs to the input, the
//! `differentiator` turns its named groups into the stream's name, and
//! `priority` with `translation` turns them into a sort key that orders a
//! stream's files oldest first. Pure functions of the name; the scanner
//! (`scan.rs`) applies them to a directory.

use std::collections::{BTreeMap, HashMap};

use crate::strftime::MONTHS;
use regex::Regex;

/// Built-in translation for a group named `MonthName`: English month names,
/// full or three letters, to 1..=12.
pub const MONTH_NAME: &str = "MonthName";
/// Built-in translation for a group named `DayName`: English day names,
/// full or three letters, to 0 (Monday)..=6 (Sunday), as in Heka.
pub const DAY_NAME: &str = "DayName";
/// The translation key standing for an empty or absent group.
pub const MISSING: &str = "missing";
/// The sort value of an empty or absent group without a `missing` entry.
pub const MISSING_VALUE: i64 = -1;

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A configuration the pattern cannot be built from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `file_match` is not a valid regular expression.
    #[error("invalid regular expression: {0}")]
    Regex(String),
    /// A `priority` entry names no group of `file_match`.
    #[error("`{0}` is not a named group of file_match")]
    Priority(String),
    /// A `translation` table names no group of `file_match`.
    #[error("`{0}` is not a named group of file_match")]
    Translation(String),
}

impl PatternError {
    /// The config key at fault.
    pub fn key(&self) -> &'static str {
        match self {
            PatternError::Regex(_) => "file_match",
            PatternError::Priority(_) => "priority",
            PatternError::Translation(_) => "translation",
        }
    }
}

/// Why a matching file's group value does not sort as intended (it sorts
/// as [`MISSING_VALUE`] instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SortError {
    /// The value is not in the group's translation table, which lists
    /// values (so it must list them all).
    #[error("group {group} = {value:?} is not in its translation table")]
    NotTranslated {
        /// The group.
        group: String,
        /// What it matched.
        value: String,
    },
    /// No translation and not an integer.
    #[error("group {group} = {value:?} is not an integer and has no translation")]
    NotANumber {
        /// The group.
        group: String,
        /// What it matched.
        value: String,
    },
}

#[derive(Debug, Clone)]
struct SortPart {
    group: String,
    descending: bool,
}

#[derive(Debug, Clone)]
enum NamePart {
    Group(String),
    Literal(String),
}

/// The compiled `file_match`, `priority`, `differentiator` and
/// `translation` of one input.
#[derive(Debug, Clone)]
pub struct FilePattern {
    regex: Regex,
    priority: Vec<SortPart>,
    differentiator: Vec<NamePart>,
    /// Keys lowercased, as values are compared lowercased.
    translation: HashMap<String, HashMap<String, i64>>,
    /// The stream name when there is no differentiator.
    default_name: String,
}

/// Where a matching file goes: its stream and its place in that stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The stream's name (the messages' Logger).
    pub stream: String,
    /// Compared lexicographically, smaller is older; descending groups are
    /// stored bit-inverted so one comparison serves both directions.
    pub key: Vec<i64>,
    /// A group value that could not be converted (it sorts as -1; the
    /// file is still read, and the scan reports it).
    pub issue: Option<SortError>,
}

impl FilePattern {
    /// Compiles the options. `default_name` names the single stream of an
    /// input without a differentiator (Heka used the section name).
    pub fn new(
        file_match: &str,
        priority: &[String],
        differentiator: &[String],
        translation: &BTreeMap<String, BTreeMap<String, i64>>,
        default_name: &str,
    ) -> Result<FilePattern, PatternError> {
        // Heka appended `$` and prefixed the directory; matching the
        // relative path anchored at both ends is the same for every
        // pattern Heka documented, without the directory's dots turning
        // into wildcards.
        let regex = Regex::new(&format!("^(?:{file_match})$"))
            .map_err(|e| PatternError::Regex(e.to_string()))?;
        let groups: Vec<&str> = regex.capture_names().flatten().collect();
        let priority = priority
            .iter()
            .map(|entry| {
                let (group, descending) = match entry.strip_prefix('^') {
                    Some(rest) => (rest, true),
                    None => (entry.as_str(), false),
                };
                match groups.contains(&group) {
                    true => Ok(SortPart {
                        group: group.to_owned(),
                        descending,
                    }),
                    false => Err(PatternError::Priority(entry.clone())),
                }
            })
            .collect::<Result<_, _>>()?;
        let differentiator = differentiator
            .iter()
            .map(|part| match groups.contains(&part.as_str()) {
                true => NamePart::Group(part.clone()),
                false => NamePart::Literal(part.clone()),
            })
            .collect();
        let mut tables = HashMap::new();
        for (group, table) in translation {
            if !groups.contains(&group.as_str()) {
                return Err(PatternError::Translation(group.clone()));
            }
            let lowered = table.iter().map(|(k, v)| (k.to_lowercase(), *v));
            tables.insert(group.clone(), lowered.collect());
        }
        Ok(FilePattern {
            regex,
            priority,
            differentiator,
            translation: tables,
            default_name: default_name.to_owned(),
        })
    }

    /// Where the file at `relative` (its path under `log_directory`, `/`
    /// separated) goes, or `None` when it does not match.
    pub fn place(&self, relative: &str) -> Option<Placement> {
        let caps = self.regex.captures(relative)?;
        let value = |group: &str| caps.name(group).map_or("", |m| m.as_str());
        let stream = match self.differentiator.is_empty() {
            true => self.default_name.clone(),
            false => self
                .differentiator
                .iter()
                .map(|part| match part {
                    NamePart::Group(group) => value(group),
                    NamePart::Literal(text) => text,
                })
                .collect(),
        };
        let mut issue = None;
        let key = self
            .priority
            .iter()
            .map(|part| {
                let n = self
                    .sort_value(&part.group, value(&part.group))
                    .unwrap_or_else(|err| {
                        issue.get_or_insert(err);
                        MISSING_VALUE
                    });
                if part.descending { !n } else { n }
            })
            .collect();
        Some(Placement { stream, key, issue })
    }

    /// The integer a group's matched value sorts as.
    fn sort_value(&self, group: &str, value: &str) -> Result<i64, SortError> {
        let lower = value.to_lowercase();
        if let Some(table) = self.translation.get(group) {
            let entry = match value.is_empty() {
                true => table.get(MISSING),
                false => table.get(&lower),
            };
            if let Some(n) = entry {
                return Ok(*n);
            }
            // A table listing values must list every value (as in Heka);
            // one holding only `missing` leaves the rest to the defaults.
            if !value.is_empty() && table.keys().any(|k| k != MISSING) {
                return Err(SortError::NotTranslated {
                    group: group.to_owned(),
                    value: value.to_owned(),
                });
            }
        }
        if value.is_empty() {
            return Ok(MISSING_VALUE);
        }
        let builtin = match group {
            MONTH_NAME => named(&MONTHS, &lower, 1),
            DAY_NAME => named(&DAYS, &lower, 0),
            _ => None,
        };
        builtin
            .or_else(|| value.parse().ok())
            .ok_or_else(|| SortError::NotANumber {
                group: group.to_owned(),
                value: value.to_owned(),
            })
    }
}

/// The position (+ `first`) of `lower` among `names`, full or three letters.
fn named(names: &[&str], lower: &str, first: i64) -> Option<i64> {
    names
        .iter()
        .position(|name| {
            name.eq_ignore_ascii_case(lower)
                || (lower.len() == 3 && name[..3].eq_ignore_ascii_case(lower))
        })
        .map(|i| i as i64 + first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(file_match: &str, priority: &[&str], differentiator: &[&str]) -> FilePattern {
        pattern_with(file_match, priority, differentiator, BTreeMap::new())
    }

    fn pattern_with(
        file_match: &str,
        priority: &[&str],
        differentiator: &[&str],
        translation: BTreeMap<String, BTreeMap<String, i64>>,
    ) -> FilePattern {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        FilePattern::new(
            file_match,
            &owned(priority),
            &owned(differentiator),
            &translation,
            "section",
        )
        .unwrap()
    }

    fn sorted(p: &FilePattern, names: &[&str]) -> Vec<String> {
        let mut placed: Vec<(Vec<i64>, &str)> = names
            .iter()
            .map(|n| (p.place(n).unwrap().key, *n))
            .collect();
        placed.sort();
        placed.into_iter().map(|(_, n)| n.to_owned()).collect()
    }

    #[test]
    fn the_match_is_anchored_at_both_ends() {
        let p = pattern(r"access\.log", &[], &[]);
        assert!(p.place("access.log").is_some());
        assert!(p.place("access.log.1").is_none());
        assert!(p.place("old/access.log").is_none());
        assert!(p.place("xaccess.log").is_none());
        let p = pattern(r"access\.log$", &[], &[]);
        assert!(p.place("access.log").is_some());
    }

    #[test]
    fn descending_sequence_numbers_put_the_live_file_last() {
        let p = pattern(r"access\.log\.?(?P<Seq>\d*)", &["^Seq"], &[]);
        let order = sorted(
            &p,
            &[
                "access.log",
                "access.log.1",
                "access.log.10",
                "access.log.2",
            ],
        );
        assert_eq!(
            order,
            [
                "access.log.10",
                "access.log.2",
                "access.log.1",
                "access.log"
            ]
        );
    }

    #[test]
    fn several_groups_sort_in_priority_order_numerically() {
        let p = pattern(
            r"(?P<Year>\d+)/(?P<Month>\d+)/access\.log\.?(?P<Seq>\d*)",
            &["Year", "Month", "^Seq"],
            &[],
        );
        let order = sorted(
            &p,
            &[
                "2014/10/access.log",
                "2014/9/access.log.1",
                "2014/9/access.log",
                "2013/12/access.log",
            ],
        );
        assert_eq!(
            order,
            [
                "2013/12/access.log",
                "2014/9/access.log.1",
                "2014/9/access.log",
                "2014/10/access.log"
            ]
        );
    }

    #[test]
    fn differentiator_joins_groups_and_literals() {
        let p = pattern(
            r"(?P<Domain>[^/]+)-access\.log",
            &[],
            &["nginx.", "Domain", ".access"],
        );
        let placed = p.place("example.com-access.log").unwrap();
        assert_eq!(placed.stream, "nginx.example.com.access");
        // Without a differentiator the stream is named after the section.
        let p = pattern(r"app\.log", &[], &[]);
        assert_eq!(p.place("app.log").unwrap().stream, "section");
    }

    #[test]
    fn month_and_day_names_translate_built_in() {
        let p = pattern(
            r"(?P<MonthName>\w+)-(?P<DayName>\w+)\.log",
            &["MonthName", "DayName"],
            &[],
        );
        let order = sorted(
            &p,
            &[
                "Oct-mon.log",
                "sep-Sunday.log",
                "January-fri.log",
                "Oct-Sun.log",
            ],
        );
        assert_eq!(
            order,
            [
                "January-fri.log",
                "sep-Sunday.log",
                "Oct-mon.log",
                "Oct-Sun.log"
            ]
        );
    }

    #[test]
    fn translation_tables_map_values_case_insensitively() {
        let mut table = BTreeMap::new();
        table.insert(
            "Month".to_owned(),
            BTreeMap::from([("Turmar".to_owned(), 2), ("hadukannas".to_owned(), 1)]),
        );
        let p = pattern_with(r"(?P<Month>\w+)\.log", &["Month"], &[], table);
        assert_eq!(
            sorted(&p, &["turmar.log", "HADUKANNAS.log"]),
            ["HADUKANNAS.log", "turmar.log"]
        );
        // A table listing values must list them all; others sort as -1
        // and say why.
        let other = p.place("other.log").unwrap();
        assert_eq!(other.key, [MISSING_VALUE]);
        assert_eq!(
            other.issue,
            Some(SortError::NotTranslated {
                group: "Month".into(),
                value: "other".into()
            })
        );
    }

    #[test]
    fn missing_groups_sort_as_minus_one_unless_translated() {
        let file_match = r"access-?(?P<Date>\d{8})?\.log";
        let p = pattern(file_match, &["Date"], &[]);
        assert_eq!(
            sorted(&p, &["access-20140803.log", "access.log"]),
            ["access.log", "access-20140803.log"]
        );
        let table = BTreeMap::from([(
            "Date".to_owned(),
            BTreeMap::from([("missing".to_owned(), 99_999_999)]),
        )]);
        let p = pattern_with(file_match, &["Date"], &[], table);
        // Only `missing` in the table: other values still parse as numbers.
        assert_eq!(
            sorted(&p, &["access.log", "access-20140803.log"]),
            ["access-20140803.log", "access.log"]
        );
    }

    #[test]
    fn unsortable_values_sort_as_minus_one_and_bad_options_are_errors() {
        let p = pattern(r"(?P<Seq>\w+)\.log", &["Seq"], &[]);
        let placed = p.place("abc.log").unwrap();
        assert!(matches!(placed.issue, Some(SortError::NotANumber { .. })));
        assert_eq!(placed.key, [MISSING_VALUE]);
        let none = BTreeMap::new();
        let bad = |m: &str, prio: &[String], t: &BTreeMap<_, _>| {
            FilePattern::new(m, prio, &[], t, "s").unwrap_err().key()
        };
        assert_eq!(bad("(", &[], &none), "file_match");
        assert_eq!(bad("a", &["^Seq".into()], &none), "priority");
        let t = BTreeMap::from([("Seq".to_owned(), BTreeMap::new())]);
        assert_eq!(bad("a", &[], &t), "translation");
    }
}
