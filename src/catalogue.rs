//! The one list of hekad's built-in plugin types: each Heka `type` name and
//! the factory that builds it. Applications embedding the runtime start from
//! [`catalogue()`] and register their own types on top.

use heka_actors::catalogue::{Catalogue, Factory, PluginEntry};

use crate::plugins::{carbon, dashboard, process, statsd, udp};

use crate::plugins::{
    counter, file, log, logstreamer, multi_decoder, payload, payload_regex, protobuf,
    regex_splitters, rst, sandbox, sandbox_manager, splitters, tcp,
};
use crate::plugins::{elasticsearch, http};

/// Every built-in plugin type.
pub const PLUGINS: &[PluginEntry] = &[
    PluginEntry {
        type_name: "TcpInput",
        factory: Factory::Input(tcp::TcpInput::build),
    },
    PluginEntry {
        type_name: "LogstreamerInput",
        factory: Factory::Input(logstreamer::LogstreamerInput::build),
    },
    PluginEntry {
        type_name: "HttpListenInput",
        factory: Factory::Input(http::HttpListenInput::build),
    },
    PluginEntry {
        type_name: "HttpInput",
        factory: Factory::Input(http::HttpInput::build),
    },
    PluginEntry {
        type_name: "SandboxInput",
        factory: Factory::Input(sandbox::SandboxInput::build),
    },
    PluginEntry {
        type_name: "HekaFramingSplitter",
        factory: Factory::Splitter(splitters::HekaFramingSplitter::build),
    },
    PluginEntry {
        type_name: "NullSplitter",
        factory: Factory::Splitter(splitters::NullSplitter::build),
    },
    PluginEntry {
        type_name: "TokenSplitter",
        factory: Factory::Splitter(splitters::TokenSplitter::build),
    },
    PluginEntry {
        type_name: "RegexSplitter",
        factory: Factory::Splitter(regex_splitters::RegexSplitter::build),
    },
    PluginEntry {
        type_name: "PatternGroupingSplitter",
        factory: Factory::Splitter(regex_splitters::PatternGroupingSplitter::build),
    },
    PluginEntry {
        type_name: "ProtobufDecoder",
        factory: Factory::Decoder(protobuf::ProtobufDecoder::build),
    },
    PluginEntry {
        type_name: "PayloadRegexDecoder",
        factory: Factory::Decoder(payload_regex::PayloadRegexDecoder::build),
    },
    PluginEntry {
        type_name: "MultiDecoder",
        factory: Factory::MultiDecoder(multi_decoder::MultiDecoder::build),
    },
    PluginEntry {
        type_name: "ScribbleDecoder",
        factory: Factory::Decoder(payload_regex::ScribbleDecoder::build),
    },
    PluginEntry {
        type_name: "ProtobufEncoder",
        factory: Factory::Encoder(protobuf::ProtobufEncoder::build),
    },
    PluginEntry {
        type_name: "PayloadEncoder",
        factory: Factory::Encoder(payload::PayloadEncoder::build),
    },
    PluginEntry {
        type_name: "RstEncoder",
        factory: Factory::Encoder(rst::RstEncoder::build),
    },
    PluginEntry {
        type_name: "ESJsonEncoder",
        factory: Factory::Encoder(elasticsearch::ESJsonEncoder::build),
    },
    PluginEntry {
        type_name: "ESLogstashV0Encoder",
        factory: Factory::Encoder(elasticsearch::ESLogstashV0Encoder::build),
    },
    PluginEntry {
        type_name: "CounterFilter",
        factory: Factory::Filter(counter::build),
    },
    PluginEntry {
        type_name: "SandboxFilter",
        factory: Factory::Filter(sandbox::SandboxFilter::build),
    },
    PluginEntry {
        type_name: "SandboxManagerFilter",
        factory: Factory::Filter(sandbox_manager::SandboxManagerFilter::build),
    },
    PluginEntry {
        type_name: "SandboxDecoder",
        factory: Factory::Decoder(sandbox::SandboxDecoder::build),
    },
    PluginEntry {
        type_name: "SandboxEncoder",
        factory: Factory::Encoder(sandbox::SandboxEncoder::build),
    },
    PluginEntry {
        type_name: "SandboxOutput",
        factory: Factory::Output(sandbox::SandboxOutput::build),
    },
    PluginEntry {
        type_name: "ElasticSearchOutput",
        factory: Factory::Output(elasticsearch::ElasticSearchOutput::build),
    },
    PluginEntry {
        type_name: "HttpOutput",
        factory: Factory::Output(http::HttpOutput::build),
    },
    PluginEntry {
        type_name: "LogOutput",
        factory: Factory::Output(log::build),
    },
    PluginEntry {
        type_name: "FileOutput",
        factory: Factory::Output(file::build),
    },
    PluginEntry {
        type_name: "TcpOutput",
        factory: Factory::Output(tcp::build_output),
    },
    PluginEntry {
        type_name: "ProcessInput",
        factory: Factory::Input(process::ProcessInput::build),
    },
    PluginEntry {
        type_name: "StatsdInput",
        factory: Factory::Input(statsd::StatsdInput::build),
    },
    PluginEntry {
        type_name: "StatAccumInput",
        factory: Factory::Input(statsd::StatAccumInput::build),
    },
    PluginEntry {
        type_name: "StatFilter",
        factory: Factory::Filter(statsd::StatFilter::build),
    },
    PluginEntry {
        type_name: "UdpInput",
        factory: Factory::Input(udp::UdpInput::build),
    },
    PluginEntry {
        type_name: "UdpOutput",
        factory: Factory::Output(udp::UdpOutput::build),
    },
    PluginEntry {
        type_name: "CarbonOutput",
        factory: Factory::Output(carbon::CarbonOutput::build),
    },
    PluginEntry {
        type_name: "DashboardOutput",
        factory: Factory::Output(dashboard::DashboardOutput::build),
    },
];

/// A catalogue of every built-in plugin type.
pub fn catalogue() -> Catalogue {
    Catalogue::from_entries(PLUGINS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use heka_actors::config::Category;

    #[test]
    fn every_entry_is_unique_and_suffixed_for_its_kind() {
        // from_entries panics on duplicates and wrong suffixes.
        let cat = catalogue();
        assert_eq!(cat.type_names().count(), PLUGINS.len());
        for entry in PLUGINS {
            assert_eq!(
                Category::of_type(entry.type_name),
                Some(entry.factory.category())
            );
        }
    }

    #[test]
    fn heka_default_instances_are_all_built_in() {
        let cat = catalogue();
        for name in heka_actors::config::DEFAULT_INSTANCES {
            assert!(cat.factory(name).is_some(), "{name}");
        }
    }
}
