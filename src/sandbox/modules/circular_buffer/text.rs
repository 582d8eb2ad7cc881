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

    /// Everything needed to rebuild this buffer, as `circular_buffer.restore`
    /// reads it: `rows columns seconds_per_row delta format`, a JSON line of
    /// `[name, unit, aggregation]` headers, then the `fromstring` text.
    pub fn preservation_data(&self) -> String {
        let headers: Vec<[&str; 3]> = self
            .headers
            .iter()
            .map(|h| [h.name.as_str(), h.unit.as_str(), h.aggregation.as_str()])
            .collect();
        format!(
            "{} {} {} {} {}\n{}\n{}",
            self.rows,
            self.columns,
            self.seconds_per_row,
            u8::from(self.delta.is_some()),
            if self.format == Format::Cbufd {
                "cbufd"
            } else {
                "cbuf"
            },
            serde_json::to_string(&headers).unwrap_or_else(|_| "[]".into()),
            self.to_restore_string()
        )
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
        // A new buffer's newest row starts there; time only moves forward.
        let earliest = (self.rows as i64 - 1) * self.seconds_per_row;
        if !(earliest..=super::MAX_SECONDS).contains(&time) {
            return Err(err(format!(
                "fromstring() time must be between {earliest} and {}",
                super::MAX_SECONDS
            )));
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

#[cfg(test)]
mod tests {
    use super::super::tests::{lua, output, run};
    use super::CircularBuffer;
    use mlua::AnyUserData;

    #[test]
    fn cbuf_output_exact() {
        let lua = lua();
        run(
            &lua,
            r#"
            cb = circular_buffer.new(3, 2, 60)
            cb:set_header(1, "Requests", "req", "sum")
            cb:add(60e9, 1, 1)
            cb:set(150e9, 2, 2.5)
            assert(cb:format("cbuf") == cb)
            assert(not pcall(cb.format, cb, "cbufd"), "needs enable_delta")
            assert(not pcall(cb.format, cb, "json"))
            "#,
        );
        assert_eq!(
            output(&lua, "cb"),
            "{\"time\":0,\"rows\":3,\"columns\":2,\"seconds_per_row\":60,\"column_info\":[\
             {\"name\":\"Requests\",\"unit\":\"req\",\"aggregation\":\"sum\"},\
             {\"name\":\"Column_2\",\"unit\":\"count\",\"aggregation\":\"sum\"}]}\n\
             nan\tnan\n1\tnan\nnan\t2.5\n"
        );
        run(&lua, "cb:add(200e9, 1, -3)");
        let out = output(&lua, "cb");
        let mut lines = out.lines();
        assert!(lines.next().unwrap().starts_with("{\"time\":60,"));
        assert_eq!(lines.collect::<Vec<_>>(), ["1\tnan", "nan\t2.5", "-3\tnan"]);
    }

    #[test]
    fn cbufd_output_only_changed_rows() {
        let lua = lua();
        run(
            &lua,
            r#"
            cb = circular_buffer.new(4, 2, 60, true):format("cbufd")
            cb:add(0, 1, 1)
            cb:add(10e9, 1, 2)
            cb:set(120e9, 2, 4)
            "#,
        );
        let header = "{\"time\":0,\"rows\":4,\"columns\":2,\"seconds_per_row\":60,\"column_info\":[\
             {\"name\":\"Column_1\",\"unit\":\"count\",\"aggregation\":\"sum\"},\
             {\"name\":\"Column_2\",\"unit\":\"count\",\"aggregation\":\"sum\"}]}\n";
        assert_eq!(
            output(&lua, "cb"),
            format!("{header}0\t3\tnan\n120\tnan\t4\n")
        );
        assert_eq!(output(&lua, "cb"), header, "deltas reset after output");
        run(&lua, "cb:set(130e9, 2, 10) cb:add(60e9, 2, 0.5)");
        assert_eq!(
            output(&lua, "cb"),
            format!("{header}60\tnan\t0.5\n120\tnan\t6\n")
        );
        // the full view is still available
        run(&lua, "cb:format('cbuf')");
        assert!(output(&lua, "cb").ends_with("3\tnan\nnan\t0.5\nnan\t10\nnan\tnan\n"));
    }

    #[test]
    fn fromstring_round_trip() {
        let lua = lua();
        run(
            &lua,
            r#"
            cb = circular_buffer.new(3, 2, 10, true)
            cb:set_header(2, "bytes", "B", "avg")
            cb:add(1000e9, 1, 1.5) cb:add(1010e9, 2, -2) cb:set(1020e9, 1, 1e-9)
            cb2 = circular_buffer.new(3, 2, 10)
            "#,
        );
        let ud: AnyUserData = lua.globals().get("cb").unwrap();
        let (text, data) = {
            let cb = ud.borrow::<CircularBuffer>().unwrap();
            (cb.to_restore_string(), cb.preservation_data())
        };
        assert_eq!(text, "1020 1.5 nan nan -2 1e-9 nan");
        lua.globals().set("text", text.as_str()).unwrap();
        run(
            &lua,
            "cb2:fromstring(text) cb2:set_header(2, 'bytes', 'B', 'avg')",
        );
        lua.globals().set("data", data.as_str()).unwrap();
        run(&lua, "cb3 = circular_buffer.restore(data)");
        let want = output(&lua, "cb");
        assert_eq!(output(&lua, "cb2"), want);
        assert_eq!(output(&lua, "cb3"), want);
        run(
            &lua,
            r#"
            assert(cb3:current_time() == 1020e9 and cb3:get(1010e9, 2) == -2)
            assert(not pcall(cb3.fromstring, cb3, "1020 1 2"), "too few")
            assert(not pcall(cb3.fromstring, cb3, "1020 1 2 3 4 5 6 7"), "too many")
            assert(not pcall(cb3.fromstring, cb3, "1021 1 2 3 4 5 6"), "not a row start")
            assert(not pcall(cb3.fromstring, cb3, "1020 1 2 x 4 5 6"))
            "#,
        );
    }
}
