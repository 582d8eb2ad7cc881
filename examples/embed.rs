//! Embedding hekad's actors in an actix application of your own.
//!
//! The application registers two plugin types of its own next to hekad's
//! built-in catalogue (a filter that shouts and an output that prints),
//! builds a pipeline in code, starts it inside its own `actix::System`, and
//! has one of its own actors inject messages into it. Then it stops the
//! pipeline, which delivers everything accepted before returning.
//!
//! Run: `cargo run --example embed`. It prints one line per greeting.

use std::io::Write as _;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use hekad::actors::catalogue::{Factory, PluginEntry};
use hekad::actors::config::{Globals, PluginSpec};
use hekad::actors::pack::EncodedBatch;
use hekad::actors::plugin::{FilterCx, LocalBoxFuture};
use hekad::actors::{Filter, Output, Pack, Pipeline, PluginError};
use hekad::proto::Message;

/// Re-injects each greeting upper-cased, as type `shouted`.
struct ShoutFilter;

impl Filter for ShoutFilter {
    fn process(&mut self, pack: &Pack, cx: &mut FilterCx) -> Result<(), PluginError> {
        let mut msg = cx.new_message();
        msg.r#type = Some(Bytes::from_static(b"shouted"));
        msg.payload = Some(Bytes::from(pack.message.payload().to_ascii_uppercase()));
        cx.inject(&msg)
            .map_err(|e| PluginError::message(e.to_string()))
    }
}

/// Prints each message's payload on stdout.
struct StdoutOutput;

impl Output for StdoutOutput {
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let mut out = std::io::stdout().lock();
            for pack in &batch.packs {
                let line = String::from_utf8_lossy(pack.message.payload());
                writeln!(out, "{line}").map_err(|e| PluginError::retry(e.to_string()))?;
            }
            Ok(())
        })
    }

    fn needs_encoder(&self) -> bool {
        false
    }
}

/// The application's own actor: it holds the pipeline and feeds it.
struct Greeter {
    pipeline: Pipeline,
}

impl Actor for Greeter {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Greet(&'static str);

impl Handler<Greet> for Greeter {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, Greet(name): Greet, _: &mut Context<Self>) -> Self::Result {
        let pipeline = self.pipeline.clone();
        Box::pin(async move {
            let mut msg = Message::new([0; 16], 0);
            msg.r#type = Some(Bytes::from_static(b"greeting"));
            msg.payload = Some(Bytes::from(format!("hello, {name}")));
            if let Err(err) = pipeline.inject(&msg).await {
                eprintln!("inject failed: {err}");
            }
        })
    }
}

fn spec(name: &str, type_name: &str, matcher: &str) -> PluginSpec {
    let mut spec = PluginSpec::new(name, type_name).expect("a known suffix");
    spec.common.message_matcher = Some(matcher.to_owned());
    spec
}

fn main() -> std::process::ExitCode {
    let mut catalogue = hekad::catalogue::catalogue();
    for entry in [
        PluginEntry {
            type_name: "ShoutFilter",
            factory: Factory::Filter(|_, _| Ok(Box::new(ShoutFilter))),
        },
        PluginEntry {
            type_name: "StdoutOutput",
            factory: Factory::Output(|_, _| Ok(Box::new(StdoutOutput))),
        },
    ] {
        catalogue.register(entry).expect("new type names");
    }
    let specs = vec![
        spec("shout", "ShoutFilter", "Type == 'greeting'"),
        spec("print", "StdoutOutput", "Type == 'shouted'"),
    ];
    let code = actix::System::new().block_on(async move {
        let pipeline = match Pipeline::start(Globals::default(), specs, catalogue) {
            Ok(pipeline) => pipeline,
            Err(errors) => {
                errors.iter().for_each(|e| eprintln!("{e}"));
                return 1;
            }
        };
        let greeter = Greeter {
            pipeline: pipeline.clone(),
        }
        .start();
        for name in ["actors", "heka", "rust"] {
            greeter
                .send(Greet(name))
                .await
                .expect("the greeter is running");
        }
        // Injected messages are accepted; wait until the output wrote them,
        // then stop (stop would also deliver them, this shows the stats).
        let printed = pipeline.stats("print").expect("the output runs");
        for _ in 0..500 {
            if printed.processed.load(std::sync::atomic::Ordering::Relaxed) == 3 {
                break;
            }
            actix::clock::sleep(Duration::from_millis(10)).await;
        }
        pipeline.stop().await
    });
    std::process::ExitCode::from(code as u8)
}
