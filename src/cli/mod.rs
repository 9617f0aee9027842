//! The command line: parse, load config, dispatch, and turn outcomes into exit codes.
//!
//! Exit codes are part of the contract: 0 ok, 1 runtime failure, 2 usage, 78 bad configuration (EX_CONFIG) with the key path in the message.

mod check;
#[cfg(feature = "sim")]
mod demo;
mod login;
pub mod permissions;
pub mod reset;
mod run;
mod signals;
#[cfg(feature = "sim")]
mod sim;
mod status;

use crate::config::{self, ConfigError, Shard};
use crate::logging::{self, LogFormat};
#[cfg(feature = "sim")]
use crate::render::Format;
use clap::{CommandFactory, Parser, Subcommand};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_CONFIG: u8 = 78;

#[derive(Debug, Parser)]
#[command(
    name = "mimecast-collector",
    version,
    about = "Collects email-security events from Mimecast tenants (API 2.0 and 1.0) and writes them as JSON lines",
    long_about = None,
    after_help = "Config: --config PATH, else $MIMECAST_COLLECTOR_CONFIG, else /etc/mimecast-collector/config.toml.\nExit codes: 0 ok, 1 runtime failure, 2 usage, 78 bad configuration."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log level or filter (e.g. "debug", "info,mimecast_collector=debug"); default: $RUST_LOG, else info.
    #[arg(long, global = true, value_parser = crate::logging::parse_level)]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector daemon until SIGTERM/SIGINT (SIGHUP reopens file sinks).
    Run {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Poll every stream once (draining its backlog), then exit.
        #[arg(long)]
        once: bool,
        /// Collect only the tenants of shard K of N (overrides collector.shard), e.g. 2/4.
        #[arg(long, value_name = "K/N")]
        shard: Option<Shard>,
    },
    /// Validate the config, authenticate every tenant and probe every enabled stream.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Only validate the configuration; contact nobody (systemd ExecStartPre).
        #[arg(long)]
        offline: bool,
        /// Check only the tenants of shard K of N (overrides collector.shard).
        #[arg(long, value_name = "K/N")]
        shard: Option<Shard>,
    },
    /// API 1.0: exchange a service user's password for an access key and secret key.
    Login {
        #[arg(long)]
        email: String,
        /// API 1.0 region (default: discovered from the email address).
        #[arg(long, conflicts_with = "base_url")]
        region: Option<String>,
        /// Host to use instead of the region's (proxies, the simulator).
        #[arg(long)]
        base_url: Option<String>,
        /// Read the password from standard input instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
        /// Write the TOML snippet to this file (mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The registered application's id (sent as x-mc-app-id).
        #[arg(long, env = "MIMECAST_APP_ID")]
        app_id: String,
        /// Which password the user has: Mimecast cloud password or domain (AD) password.
        #[arg(long, value_enum, default_value = "cloud")]
        auth: crate::api::login::AuthKind,
        /// Tenant name in the printed snippet (default: from the email's domain).
        #[arg(long)]
        name: Option<String>,
    },
    /// Show checkpoints, lag, counts and last errors from the state database.
    Status {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Exit 1 when any configured stream is further behind than this (e.g. 15m), or was never polled.
        #[arg(long)]
        max_lag: Option<String>,
        /// Show only the tenants of shard K of N (overrides collector.shard).
        #[arg(long, value_name = "K/N")]
        shard: Option<Shard>,
    },
    /// Move a stream's checkpoint back to a time (backfill) or clear it.
    Reset {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long, required_unless_present = "adopt_output")]
        tenant: Option<String>,
        #[arg(long, required_unless_present = "adopt_output")]
        stream: Option<String>,
        /// A time (2026-11-01T00:00:00Z) or a duration back from now (3d); omit to clear.
        #[arg(long, conflicts_with = "replay_quarantined")]
        since: Option<String>,
        /// Read the SIEM files quarantined for this stream again (listed by `status`), then go
        /// on from the checkpoint.
        #[arg(long)]
        replay_quarantined: bool,
        /// Change the checkpoint even while a daemon is running, or forward past what the
        /// stream has read (skipping the records in between).
        #[arg(long)]
        force: bool,
        /// Take the output file as it is as this state database's (after the database was
        /// lost or replaced, `run` refuses an output it has no record of): the next run appends
        /// after its end. Checkpoints are not changed: `--since` sets where each stream starts.
        #[arg(long, conflicts_with_all = ["tenant", "stream", "since", "replay_quarantined"])]
        adopt_output: bool,
        /// The shard whose state database this is (overrides collector.shard): a tenant of
        /// another shard is refused.
        #[arg(long, value_name = "K/N")]
        shard: Option<Shard>,
    },
    /// Print what to grant in Mimecast for the configured streams (or for every stream): the
    /// role permissions, and for API 2.0 the application's products.
    Permissions {
        /// Without a config file, print the full table of streams.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout; packages install it as mimecast-collector(1).
    #[command(hide = true)]
    Man,
    /// Run the built-in Mimecast simulator (API 1.0 and 2.0) for tests, demos and benchmarks.
    #[cfg(feature = "sim")]
    Sim(sim::SimArgs),
    /// Start the simulator and the collector against it, printing events to stdout.
    #[cfg(feature = "sim")]
    Demo {
        /// Stop after this many events.
        #[arg(long)]
        events: Option<u64>,
        /// The rendering to print: native, ocsf or ecs.
        #[arg(long, default_value = "native", value_parser = parse_format)]
        format: Format,
    },
}

#[cfg(feature = "sim")]
fn parse_format(name: &str) -> Result<Format, String> {
    Format::from_name(name).ok_or_else(|| format!("{name:?} is not one of native, ocsf, ecs"))
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    // The demo prints events on the terminal: keep its logs to warnings unless asked.
    #[cfg(feature = "sim")]
    let quiet_demo =
        matches!(cli.command, Command::Demo { .. }) && std::env::var_os("RUST_LOG").is_none();
    #[cfg(not(feature = "sim"))]
    let quiet_demo = false;
    let level = cli.log_level.as_deref().or(quiet_demo.then_some("warn"));
    logging::init(cli.log_format, level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    ExitCode::from(runtime.block_on(dispatch(cli.command)))
}

fn process_env() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// `--shard` wins over `collector.shard`, at start and on every reload.
pub fn apply_shard(mut config: config::Config, shard: Option<Shard>) -> config::Config {
    if shard.is_some() {
        config.shard = shard;
    }
    config
}

/// What `status` and `check` say about the shard, e.g. "shard 2/4: 2 of 7 tenants: acme,
/// globex; the other 5 are left to the other shards". `None` when not sharded.
fn shard_line(config: &config::Config) -> Option<String> {
    let shard = config.shard?;
    let owned: Vec<&str> = config.owned_tenants().map(|t| t.name.as_str()).collect();
    let total = config.tenants.len();
    let others = total - owned.len();
    Some(if owned.is_empty() {
        format!("shard {shard}: 0 of {total} tenants: this shard has nothing to collect; the other shards collect all {total}")
    } else {
        let rest = match others {
            0 => "no other tenant is configured".to_string(),
            1 => "the other one is left to the other shards".to_string(),
            n => format!("the other {n} are left to the other shards"),
        };
        format!(
            "shard {shard}: {} of {total} tenants: {}; {rest}",
            owned.len(),
            owned.join(", ")
        )
    })
}

/// The shard in JSON reports: `null` when not sharded.
fn shard_json(config: &config::Config) -> serde_json::Value {
    match config.shard {
        None => serde_json::Value::Null,
        Some(shard) => serde_json::json!({
            "shard": shard.to_string(),
            "index": shard.index(),
            "count": shard.count(),
            "tenants": config.owned_tenants().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            "tenants_configured": config.tenants.len(),
        }),
    }
}

/// Loads the config or prints why not; `Err` carries the exit code.
pub fn load_config(cli_path: Option<&std::path::Path>) -> Result<config::Config, u8> {
    load_config_with(cli_path, config::Secrets::Resolve)
}

/// [`load_config`] for commands that never contact Mimecast: secrets are not read.
pub fn load_config_with(
    cli_path: Option<&std::path::Path>,
    secrets: config::Secrets,
) -> Result<config::Config, u8> {
    let env = process_env();
    let path = config::resolve_path(cli_path, &env);
    config::load_with(&path, &env, secrets).map_err(|e| {
        eprintln!("error: {e}");
        match e {
            ConfigError::Invalid { .. } => EXIT_CONFIG,
            ConfigError::Load { .. } => EXIT_CONFIG,
        }
    })
}

/// [`load_config`] for `check`: with `--json`, a refused configuration is JSON on stdout too
/// (`{"ok": false, "config_errors": [{"key", "message"}]}`), so a script reads one format.
fn load_config_for_check(
    cli_path: Option<&std::path::Path>,
    as_json: bool,
) -> Result<config::Config, u8> {
    if !as_json {
        return load_config(cli_path);
    }
    let env = process_env();
    let path = config::resolve_path(cli_path, &env);
    config::load_with(&path, &env, config::Secrets::Resolve).map_err(|e| {
        let errors: Vec<serde_json::Value> = match &e {
            ConfigError::Invalid { errors, .. } => errors
                .iter()
                .map(|k| serde_json::json!({"key": k.path, "message": k.message}))
                .collect(),
            ConfigError::Load { .. } => {
                vec![serde_json::json!({"key": null, "message": e.to_string()})]
            }
        };
        println!(
            "{}",
            serde_json::json!({"ok": false, "config_path": path, "config_errors": errors})
        );
        eprintln!("error: {e}");
        EXIT_CONFIG
    })
}

async fn dispatch(command: Command) -> u8 {
    match command {
        Command::Run {
            config: config_path,
            once,
            shard,
        } => match load_config(config_path.as_deref()) {
            Err(code) => code,
            Ok(config) => {
                let config = apply_shard(config, shard);
                let options = crate::daemon::RunOptions {
                    once,
                    ..Default::default()
                };
                let env = process_env();
                let path = crate::config::resolve_path(config_path.as_deref(), &env);
                run::run(config, options, Some(path), shard).await
            }
        },
        Command::Check {
            config,
            offline,
            tenant,
            json,
            shard,
        } => match load_config_for_check(config.as_deref(), json).map(|c| apply_shard(c, shard)) {
            Err(code) => code,
            Ok(config) if offline => {
                let streams: usize = config.tenants.iter().map(|t| t.streams.len()).sum();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"ok": true, "tenants": config.tenants.len(), "streams": streams, "shard": shard_json(&config)})
                    );
                } else {
                    println!(
                        "configuration ok: {} tenant(s), {streams} stream(s)",
                        config.tenants.len()
                    );
                    if let Some(line) = shard_line(&config) {
                        println!("{line}");
                    }
                }
                EXIT_OK
            }
            Ok(config) => check::run(&config, tenant.as_deref(), json).await,
        },
        Command::Status {
            config,
            json,
            max_lag,
            shard,
        } => {
            let max_lag = match max_lag
                .as_deref()
                .map(crate::config::duration::parse_duration)
            {
                None => None,
                Some(Ok(d)) => Some(d),
                Some(Err(e)) => {
                    eprintln!("error: --max-lag: {e}");
                    return EXIT_USAGE;
                }
            };
            match load_config_with(config.as_deref(), config::Secrets::Skip) {
                Err(code) => code,
                Ok(config) => status::run(&apply_shard(config, shard), json, max_lag),
            }
        }
        Command::Reset {
            config,
            tenant,
            stream,
            since,
            replay_quarantined,
            force,
            adopt_output,
            shard,
        } => match load_config_with(config.as_deref(), config::Secrets::Skip) {
            Err(code) => code,
            Ok(config) => match (tenant, stream) {
                _ if adopt_output => reset::adopt_output(&config),
                (Some(tenant), Some(stream)) => {
                    let config = apply_shard(config, shard);
                    let action = match (&since, replay_quarantined) {
                        (_, true) => reset::Action::ReplayQuarantined,
                        (Some(text), false) => reset::Action::Since(text),
                        (None, false) => reset::Action::Clear,
                    };
                    reset::run(&config, &tenant, &stream, action, force)
                }
                // clap requires both unless --adopt-output.
                _ => EXIT_USAGE,
            },
        },
        Command::Login {
            email,
            region,
            base_url,
            password_stdin,
            out,
            app_id,
            auth,
            name,
        } => {
            login::run(login::LoginArgs {
                email: &email,
                app_id: &app_id,
                region: region.as_deref(),
                base_url: base_url.as_deref(),
                password_stdin,
                out: out.as_deref(),
                auth,
                name: name.as_deref(),
            })
            .await
        }
        Command::Permissions { config } => match config {
            None => {
                print!("{}", permissions::table());
                EXIT_OK
            }
            Some(path) => match load_config_with(Some(&path), config::Secrets::Skip) {
                Err(code) => code,
                Ok(config) => {
                    print!("{}", permissions::for_config(&config));
                    EXIT_OK
                }
            },
        },
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "mimecast-collector",
                &mut std::io::stdout(),
            );
            EXIT_OK
        }
        Command::Man => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                Ok(()) => {
                    use std::io::Write;
                    match std::io::stdout().write_all(&page) {
                        Ok(()) => EXIT_OK,
                        Err(e) => {
                            eprintln!("error: cannot write the man page: {e}");
                            EXIT_FAILURE
                        }
                    }
                }
                Err(e) => {
                    eprintln!("error: cannot render the man page: {e}");
                    EXIT_FAILURE
                }
            }
        }
        #[cfg(feature = "sim")]
        Command::Demo { events, format } => demo::demo(events, format).await,
        #[cfg(feature = "sim")]
        Command::Sim(args) => sim::run(args).await,
    }
}
