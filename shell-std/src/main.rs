//! The `tapbeat` command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tapbeat::config::{parse_schema, Settings};
use tapbeat::read::read_files_with_workers;
use tapbeat::report::summary;

/// tapbeat: a passive network analyzer. It decodes application protocols
/// in captured traffic, pairs each request with its response, and writes
/// one JSON document per transaction.
#[derive(Parser)]
#[command(name = "tapbeat", version, about, long_about = None)]
struct Cli {
    /// More log output on stderr: -v info, -vv debug (default: warnings).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
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
        /// Analysis threads, splitting the configured tables (flows are
        /// hashed to them). Default 1: documents in capture order, the same
        /// on every run; with more, the same documents, flows interleaved
        /// differently.
        #[arg(long, value_name = "N", default_value_t = 1)]
        workers: usize,
        /// Do not print the stats summary.
        #[arg(long)]
        no_stats: bool,
    },
    /// Capture live traffic (libpcap) and write one JSON document per
    /// transaction to the configured outputs (stdout by default) until
    /// SIGINT or SIGTERM; then pending transactions and queued documents
    /// are flushed (bounded by `tapbeat.shutdown_timeout`).
    Run {
        /// YAML config file.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Interface to capture on (`any`, `lo`, `eth0`...); overrides
        /// `interfaces.device`.
        #[arg(short, long, value_name = "IFACE")]
        interface: Option<String>,
        /// Server ports of a protocol, overriding the config; repeatable.
        #[arg(long, value_name = "PROTO=PORTS")]
        ports: Vec<String>,
        /// BPF filter; default: built from the configured ports.
        #[arg(long, value_name = "FILTER")]
        bpf: Option<String>,
        /// Analysis threads (default: `tapbeat.workers`, or the number of cores).
        #[arg(long, value_name = "N")]
        workers: Option<usize>,
        /// Document layout: `packetbeat` or `ecs`.
        #[arg(long, value_name = "SCHEMA")]
        schema: Option<String>,
        /// Write the NDJSON to this file (rotated at 10 MiB, 7 kept) instead
        /// of the configured outputs.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Seconds between stats lines on stderr (0: none).
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        stats_interval: u64,
        /// Switch to this user (and its group) once the capture and the
        /// outputs are open; overrides `tapbeat.user`. Exits if the switch
        /// fails.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
    /// Validate a config file, print the effective settings, and check that
    /// every configured output can be reached. Exit status: 0 valid, 1
    /// invalid (the message names the key and line), 3 an output is
    /// unreachable.
    CheckConfig {
        /// YAML config file.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Do not try to reach the outputs.
        #[arg(long)]
        no_probe: bool,
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
    let level = match cli.verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).with_target(false).init();
    match cli.cmd {
        Cmd::Read { files, config, ports, schema, output, workers, no_stats } => {
            anyhow::ensure!((1..=256).contains(&workers), "--workers must be between 1 and 256");
            let mut settings = load(config.as_ref())?;
            for p in &ports {
                settings.apply_ports_override(p)?;
            }
            if let Some(s) = schema {
                settings.schema = parse_schema(&s)?;
            }
            tracing::info!(
                files = files.len(),
                workers,
                memory_bytes = settings.sizes.share(workers).bytes() * workers,
                "reading"
            );
            let (sum, outputs) = match &output {
                Some(p) => {
                    // Unbuffered: documents arrive in chunks of hundreds of
                    // kilobytes, each written with one call.
                    let mut out = std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?;
                    (read_files_with_workers(&files, &settings, workers, &mut out)?, Vec::new())
                }
                None if !settings.outputs.is_empty() => {
                    let mut fan = tapbeat::read::start_outputs(&settings, true)?;
                    // SIGTERM/SIGINT: stop reading, deliver what is queued
                    // within the shutdown timeout, print the counts.
                    let stopper = fan.stopper();
                    let grace = settings.shutdown_timeout;
                    let mut signals = signal_hook::iterator::Signals::new([
                        signal_hook::consts::SIGINT,
                        signal_hook::consts::SIGTERM,
                    ])
                    .context("cannot install signal handlers")?;
                    std::thread::spawn(move || {
                        if signals.forever().next().is_some() {
                            tapbeat::read::STOP.store(true, std::sync::atomic::Ordering::Relaxed);
                            stopper.stop(std::time::Instant::now() + grace);
                        }
                    });
                    let sum = read_files_with_workers(&files, &settings, workers, &mut fan)?;
                    (sum, fan.shutdown(settings.shutdown_timeout))
                }
                None => {
                    // Stdout's own line buffer passes whole chunks straight through.
                    let mut out = std::io::stdout();
                    (read_files_with_workers(&files, &settings, workers, &mut out)?, Vec::new())
                }
            };
            tracing::info!(peak_rss_kib = tapbeat::report::peak_rss_kib(), "done");
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
        Cmd::Run { config, interface, ports, bpf, workers, schema, output, stats_interval, user } => {
            let mut settings = load(config.as_ref())?;
            for p in &ports {
                settings.apply_ports_override(p)?;
            }
            if let Some(s) = schema {
                settings.schema = parse_schema(&s)?;
            }
            if let Some(w) = workers {
                anyhow::ensure!((1..=256).contains(&w), "--workers must be between 1 and 256");
                settings.workers = w;
            }
            if user.is_some() {
                settings.user = user;
            }
            if let Some(p) = output {
                settings.outputs = vec![tapbeat::config::OutputSpec::File(tapbeat::output::file::FileSettings {
                    dir: p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new(".")).into(),
                    name: p.file_name().context("--output needs a file name")?.to_string_lossy().into_owned(),
                    rotate_bytes: 10 << 20,
                    keep: 7,
                })];
            }
            if settings.outputs.is_empty() {
                settings.outputs.push(tapbeat::config::OutputSpec::Console);
            }
            let device = interface.unwrap_or_else(|| settings.capture.device.clone());
            let filter = bpf
                .or_else(|| settings.capture.bpf_filter.clone())
                .unwrap_or_else(|| tapbeat::live::bpf_for(&settings));
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
            }
            let fan = tapbeat::read::start_outputs(&settings, false)?;
            tracing::info!(
                outputs = fan.pipelines.len(),
                memory_bytes = settings.sizes.share(settings.workers).bytes() * settings.workers,
                "started"
            );
            let every = (stats_interval > 0).then(|| std::time::Duration::from_secs(stats_interval));
            let sum = tapbeat::live::run_live(&settings, &device, &filter, stop, &fan, every);
            let lines = fan.shutdown(settings.shutdown_timeout);
            let sum = sum?;
            eprint!("{}", summary(&sum.engine, &sum.output));
            eprintln!(
                "  captured: {}\n  pcap_dropped: {}\n  if_dropped: {}\n  worker_dropped: {}",
                sum.captured, sum.pcap_dropped, sum.if_dropped, sum.worker_dropped
            );
            for l in lines {
                eprintln!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::CheckConfig { config, no_probe } => {
            let s = load(config.as_ref())?;
            print!("{}", s.describe());
            if no_probe {
                return Ok(ExitCode::SUCCESS);
            }
            let (lines, ok) = tapbeat::read::probe_outputs(&s);
            for l in &lines {
                eprintln!("tapbeat: {l}");
            }
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(3) })
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
