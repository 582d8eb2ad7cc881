//! Isolation: every limit ends the call with a clear error and the same
//! sandbox keeps working — instructions (through pcall and coroutines),
//! memory, output, the wall clock (also inside the pattern functions), the
//! stop flag — and the usage figures the report shows.

use std::time::Duration;

use bytes::Bytes;
use heka_proto::MessageView;

use super::*;

/// A limit ends the call with `want`; the same sandbox then works again.
fn breaks_then_recovers(body: &str, template: Template, want: &dyn Fn(&SandboxError) -> bool) {
    let src = format!(
        "function process_message() if read_message('Type') == 'bomb' then {body} end return 0 end"
    );
    let mut sb = Sandbox::new(spec(&src, template)).unwrap();
    let mut bomb = message().to_message();
    bomb.r#type = Some(Bytes::from_static(b"bomb"));
    let bomb = MessageView::from_message(&bomb).unwrap();
    let (r, _) = run(&mut sb, &bomb);
    let err = r.expect_err(body);
    assert!(want(&err), "{body}: {err:?}");
    for _ in 0..3 {
        assert_eq!(run(&mut sb, &message()).0, Ok((0, None)), "{body}");
    }
}

fn instructions(e: &SandboxError) -> bool {
    *e == SandboxError::Abort(Abort::Instructions)
}

#[test]
fn instruction_limit_holds_through_pcall_and_coroutines() {
    let a = Template::Analysis;
    breaks_then_recovers("while true do end", a, &instructions);
    breaks_then_recovers(
        "while true do pcall(function() while true do end end) end",
        a,
        &instructions,
    );
    breaks_then_recovers(
        "for i = 1, 10 do pcall(pcall, function() while true do end end) end return 0",
        a,
        &instructions,
    );
    breaks_then_recovers(
        "local ok = xpcall(function() while true do end end, function() while true do end end) return 0",
        a,
        &instructions,
    );
    // Coroutines exist only in the IO template; their threads carry the hook.
    let io = Template::Io;
    breaks_then_recovers(
        "local co = coroutine.create(function() while true do end end) \
         while true do coroutine.resume(co) end",
        io,
        &instructions,
    );
    breaks_then_recovers(
        "local co = coroutine.wrap(function() while true do end end) pcall(co) return 0",
        io,
        &instructions,
    );
}

#[test]
fn memory_and_output_limits_hold() {
    let a = Template::Analysis;
    let memory = |e: &SandboxError| *e == SandboxError::Memory;
    breaks_then_recovers("local t = {} for i = 1, 1e7 do t[i] = i end", a, &memory);
    breaks_then_recovers("local s = string.rep('x', 1e9)", a, &memory);
    breaks_then_recovers("local s = 'x' for i = 1, 40 do s = s .. s end", a, &memory);
    let output = |e: &SandboxError| *e == SandboxError::Abort(Abort::Output);
    breaks_then_recovers(
        "for i = 1, 1e6 do add_to_payload('xxxxxxxx') end",
        a,
        &output,
    );
    breaks_then_recovers(
        "pcall(add_to_payload, string.rep('x', 2000)) return 0",
        a,
        &output,
    );
    breaks_then_recovers(
        "inject_message{Payload = string.rep('x', 2000)}",
        a,
        &output,
    );
    let inject = |e: &SandboxError| matches!(e, SandboxError::Abort(Abort::Inject(_)));
    breaks_then_recovers(
        "for i = 1, 4 do pcall(inject_message, {}) end return 0",
        a,
        &inject,
    );
}

#[test]
fn wall_clock_limit_holds() {
    let mut s = spec(
        "function process_message() while true do end end",
        Template::Analysis,
    );
    s.limits.instructions = 0;
    s.limits.call_time = Some(Duration::from_millis(50));
    let mut sb = Sandbox::new(s).unwrap();
    let r = run(&mut sb, &message()).0;
    assert!(
        matches!(r, Err(SandboxError::Abort(Abort::Time(_)))),
        "{r:?}"
    );
}

/// A backtracking pattern on a long line: Lua's C matcher would run for
/// hours with no hook firing; the Rust one ends the call at the wall-clock
/// budget, and only that call.
#[test]
fn a_pathological_pattern_is_stopped_and_the_sandbox_survives() {
    let mut s = spec(
        r#"
        function process_message()
            if read_message("Type") == "bomb" then
                local line = string.rep("a", 100000)
                local ok = pcall(string.find, line, "(.-)(.-)(.-)(.-)x")
                return 0
            end
            return 0
        end"#,
        Template::Analysis,
    );
    s.limits.call_time = Some(Duration::from_millis(200));
    let mut sb = Sandbox::new(s).unwrap();
    let mut bomb = message().to_message();
    bomb.r#type = Some(Bytes::from_static(b"bomb"));
    let bomb = MessageView::from_message(&bomb).unwrap();
    let started = std::time::Instant::now();
    let r = run(&mut sb, &bomb).0;
    assert!(
        matches!(r, Err(SandboxError::Abort(Abort::Time(_)))),
        "{r:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run(&mut sb, &message()).0, Ok((0, None)));
    // Another sandbox on the same thread is untouched.
    let mut other = sandbox("function process_message() return #string.match('abc', 'b.') end");
    assert_eq!(run(&mut other, &message()).0, Ok((2, None)));
}

#[test]
fn a_stopper_ends_an_endless_call_with_shutting_down() {
    let mut s = spec(
        "function process_message() while true do end end",
        Template::Io,
    );
    s.limits.instructions = 0;
    s.limits.call_time = None;
    let mut sb = Sandbox::new(s).unwrap();
    let stopper = sb.stopper();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        stopper.stop();
    });
    let r = run(&mut sb, &message()).0;
    t.join().unwrap();
    assert_eq!(r, Err(SandboxError::Abort(Abort::Stopped)));
    assert_eq!(Abort::Stopped.to_string(), "shutting down");
}

#[test]
fn usage_figures_follow_the_script() {
    let mut sb = sandbox(
        r#"
        t = {}
        function process_message()
            for i = 1, 5000 do t[i] = i end
            add_to_payload(string.rep("x", 300))
            inject_payload()
            return 0
        end"#,
    );
    ok(&mut sb);
    let usage = sb.usage();
    assert!(usage.memory() > 50_000, "{}", usage.memory());
    assert!(usage.max_memory() >= usage.memory());
    assert!(
        usage.max_instructions() >= 10_000,
        "{}",
        usage.max_instructions()
    );
    assert_eq!(usage.max_output(), 300);
}
