//! The text forms of a circular buffer: the `cbuf`/`cbufd` payloads that
//! graphs and aggregators read, and the restore string of preserve_data.
//! The formats are described in the parent module's documentation.

use super::{CircularBuffer, Format, err};
use crate::sandbox::modules::write_number;
use std::fmt::Write;

impl CircularBuffer {
    /// The payload `add_to_payload(cb)` writes, in the format chosen by
    /// `cb:format()`. A `cbufd` output resets the recorded deltas.
    pub fn output(&mut self) -> String {
        match self.format {
            Format::Cbuf => self.cbuf(),
            Format::Cbufd => self.cbufd(),
        }
    }

    fn header_line(&self, out: &mut String) {
        let _ = write!(
            out,
            "{{\"time\":{},\"rows\":{},\"columns\":{},\"seconds_per_row\":{},\"column_info\":[",
            self.oldest_time(),
            self.rows,
            self.columns,
            self.seconds_per_row
        );
        for (i, h) in self.headers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // serde_json quotes and escapes the (free-form) unit.
            let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
            let _ = write!(
                out,
                "{{\"name\":{},\"unit\":{},\"aggregation\":{}}}",
                q(&h.name),
                q(&h.unit),
                q(&h.aggregation)
            );
        }
        out.push_str("]}\n");
    }

    /// Ring indexes of all rows, oldest first.
    fn rows_oldest_first(&self) -> impl Iterator<Item = usize> + use<'_> {
        (1..=self.rows).map(|i| (self.newest + i) % self.rows)
    }

    fn row_line(out: &mut String, values: &[f64]) {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push('\t');
            }
            write_number(out, *v);
        }
        out.push('\n');
    }

    /// The whole buffer (`cbuf`).
    pub fn cbuf(&self) -> String {
        let mut out = String::new();
        self.header_line(&mut out);
        for r in self.rows_oldest_first() {
            let at = r * self.columns;
            Self::row_line(&mut out, &self.values[at..at + self.columns]);
        }
        out
    }

    /// Rows changed since the last delta output (`cbufd`); resets them.
    pub fn cbufd(&mut self) -> String {
        let mut out = String::new();
        self.header_line(&mut out);
        let order: Vec<usize> = self.rows_oldest_first().collect();
        let oldest = self.oldest_time();
        let Some(d) = &mut self.delta else {
            return out;
        };
        for (age, r) in order.into_iter().enumerate() {
            if !d.changed[r] {
                continue;
            }
            let _ = write!(out, "{}\t", oldest + age as i64 * self.seconds_per_row);
            let at = r * self.columns;
            Self::row_line(&mut out, &d.values[at..at + self.columns]);
            d.values[at..at + self.columns].fill(f64::NAN);
            d.changed[r] = false;
        }
        out
    }

    /// `<newest row start seconds> <values oldest row first>`, space
    /// separated: what `cb:fromstring()` reads back.
    pub fn to_restore_string(&self) -> String {
        let mut out = self.current_time.to_string();
        for r in self.rows_oldest_first() {
            for v in &self.values[r * self.columns..(r + 1) * self.columns] {
                out.push(' ');
                write_number(&mut out, *v);
            }
        }
        out
    }

    /// Lua statements that recreate this buffer as the variable `target`
    /// (a Lua l-value such as `_G["cb"]`), for preserve_data.
    pub fn preservation_script(&self, target: &str) -> String {
        let mut out = format!(
            "{target} = circular_buffer.new({}, {}, {}, {})\n",
            self.rows,
            self.columns,
            self.seconds_per_row,
            self.delta.is_some()
        );
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        for (i, h) in self.headers.iter().enumerate() {
            let _ = writeln!(
                out,
                "{target}:set_header({}, {}, {}, {})",
                i + 1,
                q(&h.name),
                q(&h.unit),
                q(&h.aggregation)
            );
        }
        if self.format == Format::Cbufd {
            let _ = writeln!(out, "{target}:format(\"cbufd\")");
        }
        let _ = writeln!(out, "{target}:fromstring(\"{}\")", self.to_restore_string());
        out
    }

    /// `cb:fromstring(text)`: restores values and time from
    /// [`CircularBuffer::to_restore_string`]; pending deltas are cleared.
    pub fn restore(&mut self, text: &str) -> mlua::Result<()> {
        let mut words = text.split_ascii_whitespace();
        let time: i64 = words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| err("fromstring() invalid time"))?;
        if time.rem_euclid(self.seconds_per_row) != 0 {
            return Err(err("fromstring() time is not a row boundary"));
        }
        let mut values = Vec::with_capacity(self.values.len());
        for w in words {
            let v = match w {
                "nan" | "-nan" => f64::NAN,
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => w
                    .parse()
                    .map_err(|_| err(format!("fromstring() invalid value: {w}")))?,
            };
            if values.len() == self.values.len() {
                return Err(err("fromstring() too many values"));
            }
            values.push(v);
        }
        if values.len() != self.values.len() {
            return Err(err("fromstring() too few values"));
        }
        self.values = values;
        self.current_time = time;
        self.newest = self.rows - 1;
        if let Some(d) = &mut self.delta {
            d.values.fill(f64::NAN);
            d.changed.fill(false);
        }
        Ok(())
    }
}
