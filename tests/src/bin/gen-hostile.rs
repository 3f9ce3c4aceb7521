//! Writes the hostile-traffic captures (see `tapbeat_tests::hostile`) as
//! pcap files into a directory, for feeding to `tapbeat read` or any other
//! analyzer: `cargo run -p tapbeat-tests --bin gen-hostile -- DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gen-hostile DIR   (writes one .pcap per hostile capture into DIR)");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("gen-hostile: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for h in tapbeat_tests::hostile::all() {
        match h.save(&dir) {
            Ok(p) => println!("{}\t{} frames\t{}", p.display(), h.frames.len(), h.what),
            Err(e) => {
                eprintln!("gen-hostile: {}: {e}", h.name);
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
