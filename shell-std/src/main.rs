//! The `tapbeat` command.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tapbeat::config::{parse_schema, Settings};
use tapbeat::read::read_files;
use tapbeat::report::summary;

/// tapbeat: a passive network analyzer. It decodes application protocols
/// in captured traffic, pairs each request with its response, and writes
/// one JSON document per transaction.
#[derive(Parser)]
#[command(name = "tapbeat", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Analyse capture files (pcap or pcapng) and print one JSON document per
    /// transaction (NDJSON) on stdout, and a stats summary on stderr.
    Read {
        /// Capture files, read in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// YAML config file (Packetbeat 1.2 `packetbeat.yml` layout plus a
        /// `tapbeat:` section). Without it, defaults apply: HTTP on ports
        /// 80, 8080, 8000, 5000 and 8002.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Server ports of a protocol, overriding the config; repeatable.
        /// Example: `--ports http=80,8080`.
        #[arg(long, value_name = "PROTO=PORTS")]
        ports: Vec<String>,
        /// Document layout: `packetbeat` (1.2 field names) or `ecs`.
        #[arg(long, value_name = "SCHEMA")]
        schema: Option<String>,
        /// Write the NDJSON to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Do not print the stats summary.
        #[arg(long)]
        no_stats: bool,
    },
    /// Validate a config file and print the effective settings.
    CheckConfig {
        /// YAML config file.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List the capture devices libpcap can open.
    Devices,
}

fn load(config: Option<&PathBuf>) -> Result<Settings> {
    match config {
        Some(p) => Settings::from_path(p),
        None => Ok(Settings::default()),
    }
}

fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Read { files, config, ports, schema, output, no_stats } => {
            let mut settings = load(config.as_ref())?;
            for p in &ports {
                settings.apply_ports_override(p)?;
            }
            if let Some(s) = schema {
                settings.schema = parse_schema(&s)?;
            }
            let (sum, outputs) = match &output {
                Some(p) => {
                    let mut out = BufWriter::with_capacity(
                        1 << 20,
                        std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
                    );
                    (read_files(&files, &settings, &mut out)?, Vec::new())
                }
                None if !settings.outputs.is_empty() => {
                    let mut fan = tapbeat::read::start_outputs(&settings, true)?;
                    let sum = read_files(&files, &settings, &mut fan)?;
                    (sum, fan.shutdown(settings.shutdown_timeout))
                }
                None => {
                    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
                    (read_files(&files, &settings, &mut out)?, Vec::new())
                }
            };
            if !no_stats {
                eprint!("{}", summary(&sum.engine, &sum.output));
                for line in &outputs {
                    eprintln!("{line}");
                }
            }
            for f in &sum.failures {
                eprintln!("tapbeat: error: {f}");
            }
            Ok(if sum.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Cmd::CheckConfig { config } => {
            let s = load(config.as_ref())?;
            print!("{}", s.describe());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Devices => {
            let devs = pcap::Device::list().context("cannot list devices")?;
            for d in devs {
                let addrs: Vec<String> = d.addresses.iter().map(|a| a.addr.to_string()).collect();
                println!("{}\t{}\t{}", d.name, d.desc.unwrap_or_default(), addrs.join(","));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tapbeat: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
