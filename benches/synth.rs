//! `chatstack synth`, measured: the template built and serialized in
//! process (JSON and YAML), and the whole command from exec to exit with
//! its peak RSS. `cargo bench --bench synth`.

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chatstack::chat::{self, StageName};
use chatstack::settings::Settings;

/// Runs `work` for about a second after a warm-up; the mean per run.
fn time_per_run(mut work: impl FnMut()) -> Duration {
    for _ in 0..20 {
        work();
    }
    let started = Instant::now();
    let mut runs = 0u32;
    while started.elapsed() < Duration::from_secs(1) {
        work();
        runs += 1;
    }
    started.elapsed() / runs
}

/// The largest resident set of any child waited for so far, in MB.
fn children_peak_rss_mb() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let status = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if status == 0 {
        usage.ru_maxrss as f64 / 1024.0
    } else {
        f64::NAN
    }
}

fn main() {
    let stage: StageName = "dev".parse().expect("a valid stage");
    let everything = Settings::parse(
        "[stages.dev]\nnotify = true\nauthorization = true\n[stages.dev.schedule]\n\
         expression = \"rate(1 hour)\"\nmessage = \"hi\"\n",
        std::path::Path::new("bench.toml"),
    )
    .expect("valid settings")
    .stage(&stage);
    println!("synth: in process (mean of about a second of runs) and as a command (20 runs)");
    println!("| what | time | notes |");
    println!("|---|---|---|");
    for (name, settings) in [
        ("guide's app", Default::default()),
        ("every setting", everything),
    ] {
        let build = time_per_run(|| {
            black_box(chat::template(&stage, &settings).expect("a template"));
        });
        let template = chat::template(&stage, &settings).expect("a template");
        let json = time_per_run(|| {
            black_box(template.to_json().expect("JSON"));
        });
        let yaml = time_per_run(|| {
            black_box(template.to_yaml().expect("YAML"));
        });
        let size = template.to_yaml().map(|y| y.len()).unwrap_or_default();
        println!(
            "| build the template ({name}) | {:.1} µs | {} resources |",
            build.as_secs_f64() * 1e6,
            template.resources().count()
        );
        println!(
            "| serialize to JSON ({name}) | {:.1} µs | |",
            json.as_secs_f64() * 1e6
        );
        println!(
            "| serialize to YAML ({name}) | {:.1} µs | {size} bytes |",
            yaml.as_secs_f64() * 1e6
        );
    }
    print_command_figures();
}

/// `chatstack synth` from exec to exit, 20 times, and the peak RSS.
fn print_command_figures() {
    let binary = env!("CARGO_BIN_EXE_chatstack");
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let status = Command::new(binary)
            .args(["synth", "--stage", "dev"])
            .stdout(Stdio::null())
            .status()
            .expect("chatstack synth runs");
        times.push(started.elapsed());
        assert!(status.success());
    }
    times.sort();
    println!(
        "| `chatstack synth` exec to exit | {:.1} ms median, {:.1} ms max | peak RSS {:.1} MB |",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        children_peak_rss_mb()
    );
}
