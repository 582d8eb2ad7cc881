//! Tests of the circular_buffer module: rows, time, compute, headers,
//! cbuf/cbufd text and restore round trips.
use super::*;

pub(super) fn lua() -> Lua {
    let lua = Lua::new();
    let m = open(&lua).unwrap();
    lua.globals().set(NAME, m).unwrap();
    lua
}

pub(super) fn run(lua: &Lua, code: &str) {
    lua.load(code)
        .exec()
        .unwrap_or_else(|e| panic!("{code}: {e}"));
}

pub(super) fn output(lua: &Lua, var: &str) -> String {
    let ud: AnyUserData = lua.globals().get(var).unwrap();
    ud.borrow_mut::<CircularBuffer>().unwrap().output()
}

#[test]
fn add_set_get_across_rows_and_time() {
    let lua = lua();
    run(
        &lua,
        r#"
        local s = 1e9
        local cb = circular_buffer.new(3, 2, 60)
        assert(cb:current_time() == 120 * s)
        assert(cb:add(0, 1, 1) == 1 and cb:add(59 * s, 1, 2) == 3)
        assert(cb:set(60 * s, 2, 5) == 5 and cb:set(61 * s, 2, 6) == 6)
        assert(cb:get(30 * s, 1) == 3 and cb:get(90 * s, 2) == 6)
        local v = cb:get(0, 2) assert(v ~= v, "untouched cells are NaN")
        assert(cb:get(180 * s, 1) == nil, "get never advances time")
        -- one row forward: the row of time 0 is recycled
        assert(cb:add(185 * s, 1, 4) == 4 and cb:current_time() == 180 * s)
        assert(cb:get(0, 1) == nil and cb:get(60 * s, 2) == 6)
        v = cb:get(120 * s, 1) assert(v ~= v)
        -- writes older than the window are refused
        assert(cb:add(0, 1, 1) == nil and cb:set(59 * s, 2, 1) == nil)
        -- far beyond the window: every row is cleared
        assert(cb:set(1000 * s, 1, 7) == 7 and cb:current_time() == 960 * s)
        for t = 840, 960, 60 do
            for c = 1, 2 do
                v = cb:get(t * s, c)
                assert(v ~= v or (t == 960 and c == 1 and v == 7), t .. ":" .. c)
            end
        end
        local r, c, spr = cb:get_configuration()
        assert(r == 3 and c == 2 and spr == 60)
        assert(not pcall(cb.add, cb, 0, 3, 1), "column out of range")
        assert(not pcall(circular_buffer.new, 1, 1, 1), "rows must be > 1")
        assert(not pcall(circular_buffer.new, 2, 0, 1))
        assert(not pcall(circular_buffer.new, 1e6, 1e6, 1), "too many cells")
        "#,
    );
}

#[test]
fn compute_functions() {
    let lua = lua();
    run(
        &lua,
        r#"
        local s = 1e9
        local cb = circular_buffer.new(5, 1, 1)
        for i = 1, 4 do cb:set(i * s, 1, i) end
        -- row 0 is NaN and skipped
        assert(cb:compute("sum", 1) == 10 and cb:compute("avg", 1) == 2.5)
        assert(cb:compute("min", 1) == 1 and cb:compute("max", 1) == 4)
        assert(cb:compute("variance", 1) == 1.25)
        assert(math.abs(cb:compute("sd", 1) - math.sqrt(1.25)) < 1e-12)
        assert(cb:compute("sum", 1, 2 * s, 3 * s) == 5)
        assert(cb:compute("max", 1, 3 * s) == 4)
        assert(cb:compute("sum", 1, -5 * s) == nil, "start outside")
        assert(cb:compute("sum", 1, 3 * s, 2 * s) == nil, "start after end")
        assert(cb:compute("sum", 1, 0, 0) == 0)
        local v = cb:compute("avg", 1, 0, 0) assert(v ~= v)
        assert(not pcall(cb.compute, cb, "median", 1))
        local r = cb:get_range(1, 3 * s)
        assert(#r == 2 and r[1] == 3 and r[2] == 4)
        "#,
    );
}

#[test]
fn headers() {
    let lua = lua();
    run(
        &lua,
        r#"
        local cb = circular_buffer.new(2, 2, 1)
        local n, u, a = cb:get_header(2)
        assert(n == "Column_2" and u == "count" and a == "sum")
        assert(cb:set_header(1, "Request rate/sec!", "req/sec", "max") == 1)
        n, u, a = cb:get_header(1)
        assert(n == "Request_rate_se" and u == "req/sec" and a == "max", n .. u .. a)
        assert(cb:set_header(2, "x", "a_very_long_unit") == 2)
        n, u, a = cb:get_header(2)
        assert(n == "x" and u == "a_very_" and a == "sum")
        assert(not pcall(cb.set_header, cb, 1, "x", "u", "median"))
        assert(not pcall(cb.set_header, cb, 3, "x"))
        "#,
    );
}

#[test]
fn rust_heap_is_accounted() {
    let lua = lua();
    assert_eq!(heap_bytes(&lua), 0);
    run(&lua, "cb = circular_buffer.new(10, 10, 1)");
    assert_eq!(heap_bytes(&lua), 810);
    set_heap_limit(&lua, 1000);
    let e = lua
        .load("circular_buffer.new(10, 10, 1)")
        .exec()
        .unwrap_err();
    assert!(e.to_string().contains("memory limit exceeded"), "{e}");
    assert_eq!(heap_bytes(&lua), 810, "a refused buffer claims nothing");
    run(&lua, "cb = nil collectgarbage() collectgarbage()");
    assert_eq!(heap_bytes(&lua), 0);
}

#[test]
fn extreme_times_are_clamped_not_overflowed() {
    // Infinite, huge and very negative times, with a row width that does
    // not divide them: writes far ahead move the window to the latest
    // representable row, writes far behind are refused, nothing overflows.
    let lua = lua();
    run(
        &lua,
        r#"
        local cb = circular_buffer.new(3, 1, 7)
        assert(cb:add(-1/0, 1, 1) == nil and cb:set(-1e308, 1, 1) == nil)
        assert(cb:get(-2^63, 1) == nil and cb:get_range(1, -1/0, 0) == nil)
        local x = cb:get(0/0, 1) assert(x ~= x, "NaN reads as time 0")
        assert(cb:add(1/0, 1, 2) == 2)
        local far = cb:current_time()
        assert(far > 4.6e27 and far < 4.7e27, far)
        assert(cb:add(1e308, 1, 3) == 5 and cb:current_time() == far)
        assert(cb:compute("sum", 1, -1/0, 1/0) == nil)
        assert(cb:compute("sum", 1) == 5)
        local ok, e = pcall(circular_buffer.new, 5e6, 1, 1e12)
        assert(not ok and tostring(e):find("too large"), tostring(e))
        ok, e = pcall(cb.fromstring, cb, "-9223372036854775807 1 2 3")
        assert(not ok and tostring(e):find("between"), tostring(e))
        assert(not pcall(cb.fromstring, cb, "0 1 2 3"), "before the first window")
        "#,
    );
}
