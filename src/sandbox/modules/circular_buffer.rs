//! `require "circular_buffer"`: Heka's time-series ring, the data behind the
//! dashboard graphs (`cbuf` payloads) and the cbufd aggregators.
//!
//! A buffer has `rows` time slots of `seconds_per_row` seconds each and
//! `columns` double values per slot. The newest row is the slot holding the
//! latest time written; writing a later time advances the ring and clears
//! (sets to NaN) every row it passes. Times older than the oldest row are
//! ignored (the setters return nil). A new buffer covers times
//! `0 .. rows*seconds_per_row` seconds, all NaN.
//!
//! Lua API (`ns` are nanoseconds since the epoch, columns are 1-based):
//! - `circular_buffer.new(rows, columns, seconds_per_row [, enable_delta])`
//! - `cb:set_header(column, name [, unit [, aggregation]])` → column. The name
//!   keeps `[A-Za-z0-9_]` (others become `_`) and at most 15 bytes; unit at
//!   most 7 bytes; aggregation is one of `sum` `min` `max` `avg` `none`.
//!   Defaults: `Column_N`, `count`, `sum`.
//! - `cb:get_header(column)` → name, unit, aggregation
//! - `cb:add(ns, column, value)` → the new value (NaN counts as 0), or nil
//! - `cb:set(ns, column, value)` → value, or nil
//! - `cb:get(ns, column)` → value, or nil
//! - `cb:get_configuration()` → rows, columns, seconds_per_row
//! - `cb:compute(fn, column [, start_ns [, end_ns]])` with fn one of `sum`
//!   `avg` `sd` `min` `max` `variance` over the rows in the range (default:
//!   all), skipping NaN; nil when the range is not inside the buffer. `sd` and
//!   `variance` are population statistics; an all-NaN range gives 0 for `sum`
//!   and NaN otherwise.
//! - `cb:get_range(column [, start_ns [, end_ns]])` → array of the values
//! - `cb:current_time()` → start of the newest row in ns
//! - `cb:format("cbuf"|"cbufd")` → cb: chooses what `add_to_payload(cb)` and
//!   `inject_payload(.., cb)` write ([`CircularBuffer::output`]); `cbufd`
//!   needs `enable_delta`.
//! - `cb:fromstring(text)`: restores the values written by
//!   [`CircularBuffer::to_restore_string`].
//! - `circular_buffer.restore(data)` → cb: rebuilds a whole buffer (shape,
//!   headers, format, values) from [`CircularBuffer::preservation_data`];
//!   preserve_data writes buffers this way through their `__preserve`
//!   metamethod.
//!
//! `cbuf` output: a JSON header line
//! `{"time":T,"rows":R,"columns":C,"seconds_per_row":S,"column_info":[{"name":"Column_1","unit":"count","aggregation":"sum"}]}`
//! (T = start of the oldest row in seconds) then one line per row, oldest
//! first, values tab-separated, NaN as `nan`, every line ending in `\n`.
//! Numbers print like cjson's (integers without a decimal point).
//!
//! `cbufd` output: the same header, then one line `<row start seconds>\t<deltas>`
//! per row changed since the previous cbufd output, oldest first. A delta is
//! the sum of what `add` added plus, for `set`, the new value minus the
//! previous one (NaN counting as 0); untouched columns print `nan`. Output
//! resets the deltas. Deltas of rows that leave the window are dropped.
//!
//! Memory: the values (and deltas) live on the Rust heap, not the Lua
//! allocator, so `Lua::set_memory_limit` does not see them. Instead each
//! buffer is capped at [`MAX_CELLS`] cells and all buffers of one Lua state
//! together at [`set_heap_limit`] bytes (default [`DEFAULT_HEAP_LIMIT`]);
//! [`heap_bytes`] reports the total so the sandbox can add it to its memory
//! statistics.

use mlua::{AnyUserData, Lua, Table, UserData, UserDataMethods};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod text;

/// The name scripts pass to `require`.
pub const NAME: &str = "circular_buffer";

/// Most cells (`rows * columns`) one buffer may have.
pub const MAX_CELLS: usize = 10_000_000;

/// Latest time (seconds) a buffer can hold, about 146 billion years: times
/// are clamped to `±MAX_SECONDS` and a buffer's window must fit under it, so
/// no time arithmetic can overflow whatever number a script passes
/// (`1/0`, `-1e308`, `2^63`).
pub const MAX_SECONDS: i64 = 1 << 62;

/// Default cap on the bytes all buffers of one Lua state may hold.
pub const DEFAULT_HEAP_LIMIT: usize = 64 * 1024 * 1024;

/// The Rust-heap accounting of one Lua state, kept as mlua app data.
#[derive(Clone)]
struct Heap {
    limit: usize,
    used: Arc<AtomicUsize>,
}

fn heap(lua: &Lua) -> Heap {
    if let Some(h) = lua.app_data_ref::<Heap>() {
        return h.clone();
    }
    let h = Heap {
        limit: DEFAULT_HEAP_LIMIT,
        used: Arc::default(),
    };
    lua.set_app_data(h.clone());
    h
}

/// Caps the bytes that all circular buffers of `lua` may hold together.
pub fn set_heap_limit(lua: &Lua, bytes: usize) {
    let mut h = heap(lua);
    h.limit = bytes;
    lua.set_app_data(h);
}

/// Bytes held by the live circular buffers of `lua`.
pub fn heap_bytes(lua: &Lua) -> usize {
    heap(lua).used.load(Ordering::Relaxed)
}

/// A claim on the state's heap budget, returned when the buffer is dropped
/// (by Lua's garbage collector).
#[derive(Debug)]
struct Claim {
    used: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// One column's description in the cbuf header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Column name (`[A-Za-z0-9_]`, ≤ 15 bytes).
    pub name: String,
    /// Unit label (≤ 7 bytes).
    pub unit: String,
    /// How graphs combine rows: sum, min, max, avg or none.
    pub aggregation: String,
}

/// Output format selected by `cb:format()`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    /// Whole buffer.
    Cbuf,
    /// Rows changed since the last delta output.
    Cbufd,
}

/// Per-row changes since the last cbufd output.
#[derive(Debug)]
struct Delta {
    values: Vec<f64>,
    changed: Vec<bool>,
}

/// A circular buffer as Lua sees it (userdata).
#[derive(Debug)]
pub struct CircularBuffer {
    rows: usize,
    columns: usize,
    seconds_per_row: i64,
    values: Vec<f64>,
    /// Ring index of the newest row.
    newest: usize,
    /// Start of the newest row, seconds since the epoch.
    current_time: i64,
    headers: Vec<Header>,
    delta: Option<Delta>,
    format: Format,
    _claim: Claim,
}

fn err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// Statistics `compute` knows.
const FUNCTIONS: [&str; 6] = ["sum", "avg", "sd", "min", "max", "variance"];
const AGGREGATIONS: [&str; 5] = ["sum", "min", "max", "avg", "none"];

fn whole(v: f64, what: &str) -> mlua::Result<i64> {
    if v.fract() != 0.0 || !(1.0..=1e12).contains(&v) {
        return Err(err(format!("{what} must be a positive integer")));
    }
    Ok(v as i64)
}

impl CircularBuffer {
    /// A buffer of NaN, accounted against `lua`'s heap budget.
    pub fn new(
        lua: &Lua,
        rows: f64,
        columns: f64,
        seconds_per_row: f64,
        enable_delta: bool,
    ) -> mlua::Result<Self> {
        let r = whole(rows, "rows")? as usize;
        let c = whole(columns, "columns")? as usize;
        let spr = whole(seconds_per_row, "seconds_per_row")?;
        if r < 2 {
            return Err(err("rows must be > 1"));
        }
        if (r as i64 - 1).saturating_mul(spr) > MAX_SECONDS {
            return Err(err("rows * seconds_per_row is too large"));
        }
        let cells = r.saturating_mul(c);
        if cells > MAX_CELLS {
            return Err(err(format!("rows * columns must be <= {MAX_CELLS}")));
        }
        let bytes = cells * 8 * if enable_delta { 2 } else { 1 } + r;
        let h = heap(lua);
        let before = h.used.fetch_add(bytes, Ordering::Relaxed);
        let claim = Claim {
            used: h.used,
            bytes,
        };
        if before + bytes > h.limit {
            return Err(err("circular_buffer memory limit exceeded"));
        }
        Ok(CircularBuffer {
            rows: r,
            columns: c,
            seconds_per_row: spr,
            values: vec![f64::NAN; cells],
            newest: r - 1,
            current_time: (r as i64 - 1) * spr,
            headers: (1..=c)
                .map(|i| Header {
                    name: format!("Column_{i}"),
                    unit: "count".into(),
                    aggregation: "sum".into(),
                })
                .collect(),
            delta: enable_delta.then(|| Delta {
                values: vec![f64::NAN; cells],
                changed: vec![false; r],
            }),
            format: Format::Cbuf,
            _claim: claim,
        })
    }

    fn column(&self, column: f64) -> mlua::Result<usize> {
        if column.fract() != 0.0 || !(1.0..=self.columns as f64).contains(&column) {
            return Err(err(format!("column out of range: {column}")));
        }
        Ok(column as usize - 1)
    }

    /// Start (seconds) of the row holding time `ns` (NaN reads as 0, times
    /// beyond [`MAX_SECONDS`] as that bound).
    fn row_time(&self, ns: f64) -> i64 {
        let secs = ((ns / 1e9).floor() as i64).clamp(-MAX_SECONDS, MAX_SECONDS);
        secs - secs.rem_euclid(self.seconds_per_row)
    }

    /// Start (seconds) of the oldest row.
    fn oldest_time(&self) -> i64 {
        self.current_time - (self.rows as i64 - 1) * self.seconds_per_row
    }

    /// Ring index of the row starting at `t`, if it is inside the window.
    fn index(&self, t: i64) -> Option<usize> {
        if t > self.current_time || t < self.oldest_time() {
            return None;
        }
        let back = ((self.current_time - t) / self.seconds_per_row) as usize;
        Some((self.newest + self.rows - back) % self.rows)
    }

    /// Moves the newest row forward to `t`, clearing the rows passed.
    fn advance(&mut self, t: i64) {
        if t <= self.current_time {
            return;
        }
        let steps = ((t - self.current_time) / self.seconds_per_row) as u64;
        for _ in 0..steps.min(self.rows as u64) {
            self.newest = (self.newest + 1) % self.rows;
            let at = self.newest * self.columns;
            self.values[at..at + self.columns].fill(f64::NAN);
            if let Some(d) = &mut self.delta {
                d.values[at..at + self.columns].fill(f64::NAN);
                d.changed[self.newest] = false;
            }
        }
        self.current_time = t;
    }

    /// Index into `values` for a write at `ns`, advancing time if needed.
    fn slot_for_write(&mut self, ns: f64, column: f64) -> mlua::Result<Option<usize>> {
        let c = self.column(column)?;
        let t = self.row_time(ns);
        self.advance(t);
        Ok(self.index(t).map(|r| r * self.columns + c))
    }

    fn record_delta(&mut self, slot: usize, change: f64) {
        if let Some(d) = &mut self.delta {
            let old = d.values[slot];
            d.values[slot] = if old.is_nan() { change } else { old + change };
            d.changed[slot / self.columns] = true;
        }
    }

    /// `cb:add`: adds `value` to the cell (NaN counts as 0).
    pub fn add(&mut self, ns: f64, column: f64, value: f64) -> mlua::Result<Option<f64>> {
        let Some(slot) = self.slot_for_write(ns, column)? else {
            return Ok(None);
        };
        let old = self.values[slot];
        self.values[slot] = if old.is_nan() { value } else { old + value };
        self.record_delta(slot, value);
        Ok(Some(self.values[slot]))
    }

    /// `cb:set`: overwrites the cell.
    pub fn set(&mut self, ns: f64, column: f64, value: f64) -> mlua::Result<Option<f64>> {
        let Some(slot) = self.slot_for_write(ns, column)? else {
            return Ok(None);
        };
        let old = self.values[slot];
        self.values[slot] = value;
        let zero = |v: f64| if v.is_nan() { 0.0 } else { v };
        self.record_delta(slot, zero(value) - zero(old));
        Ok(Some(value))
    }

    /// `cb:get`: the cell's value, or None outside the window.
    pub fn get(&self, ns: f64, column: f64) -> mlua::Result<Option<f64>> {
        let c = self.column(column)?;
        Ok(self
            .index(self.row_time(ns))
            .map(|r| self.values[r * self.columns + c]))
    }

    /// Values of `column` from `start_ns` to `end_ns` (inclusive rows,
    /// defaults: the whole buffer), oldest first; None if out of the window.
    pub fn range(
        &self,
        column: f64,
        start_ns: Option<f64>,
        end_ns: Option<f64>,
    ) -> mlua::Result<Option<Vec<f64>>> {
        let c = self.column(column)?;
        let start = start_ns.map_or(self.oldest_time(), |n| self.row_time(n));
        let end = end_ns.map_or(self.current_time, |n| self.row_time(n));
        if start > end || self.index(start).is_none() || self.index(end).is_none() {
            return Ok(None);
        }
        let first = self.index(start).unwrap_or(0);
        let n = ((end - start) / self.seconds_per_row) as usize + 1;
        Ok(Some(
            (0..n)
                .map(|i| self.values[((first + i) % self.rows) * self.columns + c])
                .collect(),
        ))
    }

    /// `cb:compute`: a statistic over a column range, skipping NaN.
    pub fn compute(
        &self,
        function: &str,
        column: f64,
        start_ns: Option<f64>,
        end_ns: Option<f64>,
    ) -> mlua::Result<Option<f64>> {
        if !FUNCTIONS.contains(&function) {
            return Err(err(format!("invalid compute function: {function}")));
        }
        let Some(vals) = self.range(column, start_ns, end_ns)? else {
            return Ok(None);
        };
        let vals: Vec<f64> = vals.into_iter().filter(|v| !v.is_nan()).collect();
        let n = vals.len() as f64;
        let sum: f64 = vals.iter().sum();
        let variance = || {
            let mean = sum / n;
            vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n
        };
        Ok(Some(match function {
            "sum" => sum,
            _ if vals.is_empty() => f64::NAN,
            "avg" => sum / n,
            "min" => vals.iter().copied().fold(f64::INFINITY, f64::min),
            "max" => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            "variance" => variance(),
            _ => variance().sqrt(),
        }))
    }

    /// `cb:set_header`: names a column; returns its 1-based index.
    pub fn set_header(
        &mut self,
        column: f64,
        name: &str,
        unit: Option<&str>,
        aggregation: Option<&str>,
    ) -> mlua::Result<usize> {
        let c = self.column(column)?;
        let aggregation = aggregation.unwrap_or("sum");
        if !AGGREGATIONS.contains(&aggregation) {
            return Err(err(format!("invalid aggregation: {aggregation}")));
        }
        let name: String = name
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
            .take(15)
            .collect();
        let unit: String = unit.unwrap_or("count").chars().take(7).collect();
        self.headers[c] = Header {
            name,
            unit,
            aggregation: aggregation.into(),
        };
        Ok(c + 1)
    }

    /// `cb:get_header`.
    pub fn header(&self, column: f64) -> mlua::Result<&Header> {
        Ok(&self.headers[self.column(column)?])
    }

    /// `cb:format`: selects what [`CircularBuffer::output`] writes.
    pub fn set_format(&mut self, format: &str) -> mlua::Result<()> {
        self.format = match format {
            "cbuf" => Format::Cbuf,
            "cbufd" if self.delta.is_some() => Format::Cbufd,
            "cbufd" => return Err(err("cbufd format requires enable_delta")),
            _ => return Err(err(format!("invalid format: {format}"))),
        };
        Ok(())
    }

    /// Start of the newest row in nanoseconds (`cb:current_time()`).
    pub fn current_time_ns(&self) -> f64 {
        self.current_time as f64 * 1e9
    }
}

impl UserData for CircularBuffer {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method_mut("add", |_, cb, (ns, c, v): (f64, f64, f64)| cb.add(ns, c, v));
        m.add_method_mut("set", |_, cb, (ns, c, v): (f64, f64, f64)| cb.set(ns, c, v));
        m.add_method("get", |_, cb, (ns, c): (f64, f64)| cb.get(ns, c));
        m.add_method("get_configuration", |_, cb, ()| {
            Ok((cb.rows, cb.columns, cb.seconds_per_row))
        });
        m.add_method(
            "compute",
            |_, cb, (f, c, s, e): (String, f64, Option<f64>, Option<f64>)| cb.compute(&f, c, s, e),
        );
        m.add_method(
            "get_range",
            |lua, cb, (c, s, e): (f64, Option<f64>, Option<f64>)| match cb.range(c, s, e)? {
                Some(v) => lua.create_sequence_from(v).map(Some),
                None => Ok(None),
            },
        );
        m.add_method_mut(
            "set_header",
            |_, cb, (c, n, u, a): (f64, String, Option<String>, Option<String>)| {
                cb.set_header(c, &n, u.as_deref(), a.as_deref())
            },
        );
        m.add_method("get_header", |_, cb, c: f64| {
            let h = cb.header(c)?;
            Ok((h.name.clone(), h.unit.clone(), h.aggregation.clone()))
        });
        m.add_method("current_time", |_, cb, ()| Ok(cb.current_time_ns()));
        m.add_function("format", |_, (ud, f): (AnyUserData, String)| {
            ud.borrow_mut::<CircularBuffer>()?.set_format(&f)?;
            Ok(ud)
        });
        m.add_method_mut("fromstring", |_, cb, s: mlua::LuaString| {
            cb.restore(&s.to_str()?)
        });
        // preserve_data writes a buffer as `require("circular_buffer")
        // .restore(data)`; see `CircularBuffer::preservation_data`.
        m.add_meta_method("__preserve", |_, cb, ()| {
            Ok((NAME, "restore", cb.preservation_data()))
        });
    }
}

/// `circular_buffer.restore(data)`: rebuilds a buffer from
/// [`CircularBuffer::preservation_data`] (used by preserve_data files).
fn restore(lua: &Lua, data: mlua::LuaString) -> mlua::Result<CircularBuffer> {
    let data = data.to_str()?;
    let mut lines = data.splitn(3, '\n');
    let bad = || err("invalid circular_buffer preservation data");
    let shape: Vec<&str> = lines.next().ok_or_else(bad)?.split(' ').collect();
    let [rows, cols, spr, delta, format] = shape[..] else {
        return Err(bad());
    };
    let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
    let mut cb = CircularBuffer::new(lua, num(rows)?, num(cols)?, num(spr)?, delta == "1")?;
    let headers: Vec<(String, String, String)> =
        serde_json::from_str(lines.next().ok_or_else(bad)?).map_err(|_| bad())?;
    for (i, (name, unit, aggregation)) in headers.iter().enumerate() {
        cb.set_header((i + 1) as f64, name, Some(unit), Some(aggregation))?;
    }
    cb.set_format(format)?;
    cb.restore(lines.next().ok_or_else(bad)?)?;
    Ok(cb)
}

/// Builds the `circular_buffer` module table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("restore", lua.create_function(restore)?)?;
    t.set(
        "new",
        lua.create_function(|lua, (r, c, s, d): (f64, f64, f64, Option<bool>)| {
            CircularBuffer::new(lua, r, c, s, d.unwrap_or(false))
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
pub(super) mod tests;
