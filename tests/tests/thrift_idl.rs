//! `protocols.thrift.idl_files`: names from the project's own IDL file show
//! up in the documents of the capture recorded with that service.

use tapbeat_tests::{pcaps, read};

#[test]
fn idl_names_replace_field_ids() {
    let dir = pcaps().join("recorded/thrift");
    let port = tapbeat_tests::manifest(&dir.join("MANIFEST.tsv"))[0]["server_port"].clone();
    let yaml = format!(
        "protocols:\n  thrift:\n    ports: [{port}]\n    idl_files: [\"{}\"]\n",
        dir.join("tapbeat_test.thrift").display()
    );
    let with = tapbeat::Settings::from_yaml(&yaml).unwrap();
    let without = tapbeat::Settings::from_yaml(&format!("protocols:\n  thrift:\n    ports: [{port}]\n")).unwrap();
    let (named, _) = read(&dir.join("binary_buffered.pcap"), &with);
    let (plain, _) = read(&dir.join("binary_buffered.pcap"), &without);
    assert_eq!(named.len(), plain.len());
    let add = |docs: &[serde_json::Value]| {
        docs.iter().find(|d| d["method"] == "add").map(|d| d["thrift"]["params"].as_str().unwrap().to_string()).unwrap()
    };
    let (p, n) = (add(&plain), add(&named));
    assert!(p.starts_with("(1: ") && p.contains(", 2: "), "{p}");
    assert_eq!(n, p.replace("(1: ", "(num1: ").replace(", 2: ", ", num2: "));
}
