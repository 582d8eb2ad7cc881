//! The matcher behind the pattern functions: Lua 5.1's backtracking
//! pattern semantics over bytes (C-locale classes, `%b`, `%f`, position
//! captures, back-references), written for a budget. Every step counts;
//! every [`CHECK_EVERY`] steps the sandbox's wall-clock deadline and stop
//! flag are checked ([`limits::check`]), so a pattern that backtracks for
//! hours ends the call instead of the process. Recursion is bounded by
//! [`MAX_DEPTH`] (Lua 5.1 had no bound and could overflow the C stack; 5.2
//! chose the same 200).

use mlua::Lua;

use crate::sandbox::limits;

/// Most captures a pattern may hold (`LUA_MAXCAPTURES`).
pub const MAX_CAPTURES: usize = 32;
/// Deepest backtracking recursion before "pattern too complex".
pub const MAX_DEPTH: u32 = 200;
/// Steps between two budget checks.
pub const CHECK_EVERY: u32 = 4096;

/// The length of a capture, or what it is instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapLen {
    /// A closed capture of this many bytes.
    Len(usize),
    /// `()`: the position.
    Position,
    /// Opened, not closed yet.
    Unfinished,
}

/// One capture as the functions hand it to Lua.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// A substring of the subject.
    Text(usize, usize),
    /// A 1-based position.
    Position(usize),
}

/// A match in progress over `src` with pattern `pat`.
pub struct Matcher<'a> {
    lua: &'a Lua,
    pub src: &'a [u8],
    pat: &'a [u8],
    pub level: usize,
    caps: [(usize, CapLen); MAX_CAPTURES],
    depth: u32,
    steps: u32,
}

fn err(text: &str) -> mlua::Error {
    mlua::Error::runtime(text.to_owned())
}

/// A pattern as Lua 5.1 reads it: up to its first NUL byte.
pub fn c_pattern(p: &[u8]) -> &[u8] {
    match memchr::memchr(0, p) {
        Some(at) => &p[..at],
        None => p,
    }
}

fn class(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => matches!(c, b' ' | b'\t'..=b'\r'),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0,
        _ => return cl == c,
    };
    if cl.is_ascii_uppercase() { !res } else { res }
}

impl<'a> Matcher<'a> {
    /// A matcher over `src` for the (NUL-truncated) pattern `pat`.
    pub fn new(lua: &'a Lua, src: &'a [u8], pat: &'a [u8]) -> Matcher<'a> {
        Matcher {
            lua,
            src,
            pat,
            level: 0,
            caps: [(0, CapLen::Unfinished); MAX_CAPTURES],
            depth: 0,
            steps: 0,
        }
    }

    fn tick(&mut self) -> mlua::Result<()> {
        self.steps = self.steps.wrapping_add(1);
        if self.steps % CHECK_EVERY == 0 {
            limits::check(self.lua)?;
        }
        Ok(())
    }

    fn at(&self, p: usize) -> u8 {
        self.pat.get(p).copied().unwrap_or(0)
    }

    /// Index just past the single-character class starting at `p`.
    fn class_end(&self, mut p: usize) -> mlua::Result<usize> {
        let c = self.at(p);
        p += 1;
        if c == b'%' {
            if p >= self.pat.len() {
                return Err(err("malformed pattern (ends with '%')"));
            }
            return Ok(p + 1);
        }
        if c == b'[' {
            if self.at(p) == b'^' {
                p += 1;
            }
            loop {
                if p >= self.pat.len() {
                    return Err(err("malformed pattern (missing ']')"));
                }
                let cc = self.pat[p];
                p += 1;
                if cc == b'%' && p < self.pat.len() {
                    p += 1;
                }
                if self.at(p) == b']' {
                    return Ok(p + 1);
                }
            }
        }
        Ok(p)
    }

    /// Whether `c` is in the set `[...]` from `p` (at `[`) to `ec` (at `]`).
    fn bracket(&self, c: u8, mut p: usize, ec: usize) -> bool {
        let mut sig = true;
        if self.at(p + 1) == b'^' {
            sig = false;
            p += 1;
        }
        p += 1;
        while p < ec {
            if self.pat[p] == b'%' {
                p += 1;
                if class(c, self.at(p)) {
                    return sig;
                }
            } else if self.at(p + 1) == b'-' && p + 2 < ec {
                if self.pat[p] <= c && c <= self.pat[p + 2] {
                    return sig;
                }
                p += 2;
            } else if self.pat[p] == c {
                return sig;
            }
            p += 1;
        }
        !sig
    }

    fn single(&self, s: usize, p: usize, ep: usize) -> bool {
        let Some(&c) = self.src.get(s) else {
            return false;
        };
        match self.pat[p] {
            b'.' => true,
            b'%' => class(c, self.at(p + 1)),
            b'[' => self.bracket(c, p, ep - 1),
            pc => pc == c,
        }
    }

    /// Matches the pattern from `p` against the subject from `s`; the end
    /// of the match, if any.
    pub fn run(&mut self, s: usize, p: usize) -> mlua::Result<Option<usize>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(err("pattern too complex"));
        }
        let out = self.run_inner(s, p);
        self.depth -= 1;
        out
    }

    fn run_inner(&mut self, mut s: usize, mut p: usize) -> mlua::Result<Option<usize>> {
        loop {
            self.tick()?;
            if p >= self.pat.len() {
                return Ok(Some(s));
            }
            match self.pat[p] {
                b'(' if self.at(p + 1) == b')' => {
                    return self.start_capture(s, p + 2, CapLen::Position);
                }
                b'(' => return self.start_capture(s, p + 1, CapLen::Unfinished),
                b')' => return self.end_capture(s, p + 1),
                b'$' if p + 1 == self.pat.len() => {
                    return Ok((s == self.src.len()).then_some(s));
                }
                b'%' if self.at(p + 1) == b'b' => match self.balance(s, p + 2)? {
                    Some(e) => {
                        s = e;
                        p += 4;
                        continue;
                    }
                    None => return Ok(None),
                },
                b'%' if self.at(p + 1) == b'f' => {
                    p += 2;
                    if self.at(p) != b'[' {
                        return Err(err("missing '[' after '%f' in pattern"));
                    }
                    let ep = self.class_end(p)?;
                    let prev = if s == 0 { 0 } else { self.src[s - 1] };
                    let cur = self.src.get(s).copied().unwrap_or(0);
                    if self.bracket(prev, p, ep - 1) || !self.bracket(cur, p, ep - 1) {
                        return Ok(None);
                    }
                    p = ep;
                    continue;
                }
                b'%' if self.at(p + 1).is_ascii_digit() => {
                    match self.back_reference(s, self.at(p + 1))? {
                        Some(e) => {
                            s = e;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    }
                }
                _ => {}
            }
            let ep = self.class_end(p)?;
            let m = self.single(s, p, ep);
            match self.at(ep) {
                b'?' => {
                    if m {
                        if let Some(res) = self.run(s + 1, ep + 1)? {
                            return Ok(Some(res));
                        }
                    }
                    p = ep + 1;
                }
                b'*' => return self.max_expand(s, p, ep),
                b'+' => {
                    return if m {
                        self.max_expand(s + 1, p, ep)
                    } else {
                        Ok(None)
                    };
                }
                b'-' => return self.min_expand(s, p, ep),
                _ => {
                    if !m {
                        return Ok(None);
                    }
                    s += 1;
                    p = ep;
                }
            }
        }
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> mlua::Result<Option<usize>> {
        let mut i = 0;
        while self.single(s + i, p, ep) {
            self.tick()?;
            i += 1;
        }
        loop {
            if let Some(res) = self.run(s + i, ep + 1)? {
                return Ok(Some(res));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> mlua::Result<Option<usize>> {
        loop {
            if let Some(res) = self.run(s, ep + 1)? {
                return Ok(Some(res));
            }
            if self.single(s, p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: CapLen) -> mlua::Result<Option<usize>> {
        if self.level >= MAX_CAPTURES {
            return Err(err("too many captures"));
        }
        self.caps[self.level] = (s, what);
        self.level += 1;
        let res = self.run(s, p)?;
        if res.is_none() {
            self.level -= 1;
        }
        Ok(res)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> mlua::Result<Option<usize>> {
        let l = (0..self.level)
            .rev()
            .find(|&l| self.caps[l].1 == CapLen::Unfinished)
            .ok_or_else(|| err("invalid pattern capture"))?;
        self.caps[l].1 = CapLen::Len(s - self.caps[l].0);
        let res = self.run(s, p)?;
        if res.is_none() {
            self.caps[l].1 = CapLen::Unfinished;
        }
        Ok(res)
    }

    fn balance(&mut self, s: usize, p: usize) -> mlua::Result<Option<usize>> {
        if p + 1 >= self.pat.len() {
            return Err(err("unbalanced pattern"));
        }
        let (open, close) = (self.pat[p], self.pat[p + 1]);
        if self.src.get(s) != Some(&open) {
            return Ok(None);
        }
        let mut depth = 1;
        for (i, &c) in self.src.iter().enumerate().skip(s + 1) {
            self.tick()?;
            if c == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(Some(i + 1));
                }
            } else if c == open {
                depth += 1;
            }
        }
        Ok(None)
    }

    fn back_reference(&mut self, s: usize, digit: u8) -> mlua::Result<Option<usize>> {
        let l = usize::from(digit).wrapping_sub(usize::from(b'1'));
        if l >= self.level || self.caps[l].1 == CapLen::Unfinished {
            return Err(err("invalid capture index"));
        }
        let CapLen::Len(len) = self.caps[l].1 else {
            // A position capture never matches as text (as in Lua 5.1).
            return Ok(None);
        };
        let start = self.caps[l].0;
        let end = s.checked_add(len).filter(|&e| e <= self.src.len());
        Ok(end.filter(|&e| self.src[start..start + len] == self.src[s..e]))
    }

    /// Capture `i` of a match from `s` to `e` (the whole match stands in
    /// for capture 0 when the pattern has none).
    pub fn capture(&self, i: usize, s: usize, e: usize) -> mlua::Result<Capture> {
        if i >= self.level {
            if i == 0 {
                return Ok(Capture::Text(s, e));
            }
            return Err(err("invalid capture index"));
        }
        match self.caps[i] {
            (start, CapLen::Len(len)) => Ok(Capture::Text(start, start + len)),
            (start, CapLen::Position) => Ok(Capture::Position(start + 1)),
            (_, CapLen::Unfinished) => Err(err("unfinished capture")),
        }
    }
}
