use bytes::Bytes;
use heka_proto::{Field, Message};

use super::*;

fn output(base: &Path, options: &str) -> Result<DashboardOutput, String> {
    let mut spec = PluginSpec::new("dash", "DashboardOutput").unwrap();
    spec.options = options.parse().unwrap();
    let globals = Globals {
        base_dir: base.to_path_buf(),
        share_dir: base.join("share"),
        ..Globals::default()
    };
    let dash = DashboardOutput::new(&spec, &globals).map_err(|e| e.message)?;
    // Only the directory: binding is for the integration tests.
    files::prepare_directory(&dash.dir, &dash.static_dir).unwrap();
    Ok(dash)
}

fn message(msg_type: &str, logger: &str, payload: &str, fields: Vec<Field>) -> MessageView {
    let mut msg = Message::new([1; 16], 1_700_000_000_123_456_789);
    msg.r#type = Some(Bytes::copy_from_slice(msg_type.as_bytes()));
    msg.logger = Some(Bytes::copy_from_slice(logger.as_bytes()));
    msg.payload = Some(Bytes::copy_from_slice(payload.as_bytes()));
    msg.fields = fields;
    MessageView::from_message(&msg).unwrap()
}

fn sandbox_output(logger: &str, name: &str, kind: &str, payload: &str) -> MessageView {
    let fields = vec![
        Field::string("payload_type", kind),
        Field::string("payload_name", name),
    ];
    message("heka.sandbox-output", logger, payload, fields)
}

fn read(dash: &DashboardOutput, file: &str) -> String {
    std::fs::read_to_string(dash.directory().join(file)).unwrap()
}

#[test]
fn messages_become_files_under_data() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dash = output(tmp.path(), "").unwrap();
    let msgs = [
        message("heka.all-report", "hekad", "{\"old\":1}", vec![]),
        message("heka.all-report", "hekad", "{\"inputs\":[]}", vec![]),
        sandbox_output("counter", "count rate", "txt", "1 2 3"),
        sandbox_output("counter", "count rate", "txt", "4 5 6"),
        message(
            "heka.sandbox-terminated",
            "hekad",
            "process_message() boom",
            vec![Field::string("plugin", "bad")],
        ),
        message("something.else", "x", "ignored", vec![]),
    ];
    dash.handle(msgs.iter());
    assert_eq!(read(&dash, "data/heka_report.json"), "{\"inputs\":[]}");
    assert_eq!(read(&dash, "data/counter.countrate.txt"), "4 5 6");
    let listed: serde_json::Value =
        serde_json::from_str(&read(&dash, "data/sandboxes.json")).unwrap();
    assert_eq!(
        listed["sandboxes"][0]["Outputs"][0]["Filename"],
        "data/counter.countrate.txt"
    );
    assert_eq!(
        read(&dash, "data/heka_sandbox_termination.tsv"),
        "1700000000\tbad\tprocess_message() boom\n"
    );
    let fields = dash.report_fields();
    assert!(
        fields.contains(&("ReportsWritten", 2, "count")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("WriteFailures", 0, "count")),
        "{fields:?}"
    );
}

#[test]
fn a_hostile_logger_writes_inside_data_only() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dash = output(tmp.path(), "working_directory = 'w/dash'").unwrap();
    let msgs = [
        sandbox_output("../../x", "../../../y", "../../z", "pwned"),
        sandbox_output("/etc/passwd", "", "", "pwned"),
    ];
    dash.handle(msgs.iter());
    let data = tmp.path().join("w/dash/data");
    let mut names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["etcpasswd..txt", "sandboxes.json", "x.y.z"]);
    // Nothing appeared next to or above the working directory.
    assert!(!tmp.path().join("x").exists());
    assert!(!tmp.path().join("w/x").exists());
    let mut top: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["w"]);
    let listed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("sandboxes.json")).unwrap())
            .unwrap();
    // The listing keeps the names as sent; only the file names are cleaned.
    assert_eq!(listed["sandboxes"][0]["Name"], "../../x");
    assert_eq!(
        listed["sandboxes"][0]["Outputs"][0]["Filename"],
        "data/x.y.z"
    );
}

#[test]
fn write_failures_are_counted_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dash = output(tmp.path(), "").unwrap();
    std::fs::remove_dir_all(tmp.path().join("dashboard/data")).unwrap();
    let msgs = [message("heka.all-report", "hekad", "{}", vec![])];
    dash.handle(msgs.iter());
    assert!(
        dash.report_fields()
            .contains(&("WriteFailures", 1, "count"))
    );
}

#[test]
fn options_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in [
        "working_directory = ''",
        "working_directory = '.'",
        "working_directory = '/'",
        "headers = { 'bad header' = 'x' }",
        "adress = ':1'",
    ] {
        assert!(output(tmp.path(), bad).is_err(), "{bad}");
    }
    assert!(output(tmp.path(), "headers = { X-Frame-Options = 'DENY' }").is_ok());
}
