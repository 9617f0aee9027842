//! `mimecast-collector sim`: the Mimecast simulator as a command, for demos, benchmarks and
//! users' own tests.

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use mimecast_sim::{SimConfig, SimTenant, Simulator};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, clap::Args)]
#[command(
    about = "Run the built-in Mimecast simulator (API 1.0 and 2.0) on loopback",
    long_about = "Run the built-in Mimecast simulator: API 1.0 (HMAC-signed) and API 2.0 (OAuth2) on one port, with deterministic seeded data for every stream, pagination, rate limits and fault injection. It prints the credentials of its demo tenant; point a tenant's base_url at it (see config/demo.toml).",
    after_help = "Fault SPEC: comma-separated KIND[=ARG][xTIMES|x*][+AFTER][@/PATH_PREFIX][#TENANT]\n  kinds: 429, 429:reset=2000, 500 (any 5xx), html502, delay=5s, reset, truncated, malformed,\n         fail=CODE[:retryable], 403, expired-keys, expired-token\n  example: --faults '429:reset=2000x3@/api/ttp,500x2,reset@/siem'"
)]
pub struct SimArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8025")]
    pub listen: SocketAddr,
    /// Records each stream holds (per event type for siem_cg).
    #[arg(long, default_value_t = 200)]
    pub events: u64,
    /// Faults to inject (see below).
    #[arg(long)]
    pub faults: Option<String>,
    /// Seed for the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Extra tenants (each with its own credentials and data), besides "demo".
    #[arg(long, value_delimiter = ',')]
    pub tenants: Vec<String>,
    /// Server-side quota per tenant and minute (0: unlimited).
    #[arg(long, default_value_t = 600)]
    pub quota_per_minute: u32,
    /// Lifetime of API 2.0 access tokens, in seconds.
    #[arg(long, default_value_t = 1799)]
    pub token_ttl: u64,
    /// Records per siem_cg batch file.
    #[arg(long, default_value_t = 100)]
    pub records_per_file: u64,
}

pub async fn run(args: SimArgs) -> u8 {
    let faults = match args.faults.as_deref().map(mimecast_sim::parse_fault_specs) {
        None => Vec::new(),
        Some(Ok(f)) => f,
        Some(Err(e)) => {
            eprintln!("error: --faults: {e}");
            return EXIT_USAGE;
        }
    };
    let mut tenants = vec![SimTenant::demo()];
    tenants.extend(args.tenants.iter().map(|n| SimTenant::named(n)));
    let config = SimConfig {
        seed: args.seed,
        tenants: tenants.clone(),
        records_per_stream: args.events,
        quota_per_minute: args.quota_per_minute,
        token_ttl: Duration::from_secs(args.token_ttl.max(1)),
        siem_cg_records_per_file: args.records_per_file.max(1),
        faults,
        ..SimConfig::default()
    };
    let sim = match Simulator::bind(config, args.listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return EXIT_FAILURE;
        }
    };
    println!("Mimecast simulator listening on {}", sim.base_url());
    for t in &tenants {
        println!(
            "\n# tenant {:?} (simulated credentials, not secrets)",
            t.name
        );
        if let Some(v2) = &t.v2 {
            println!(
                "#   API 2.0: client_id = {:?}, client_secret = {:?}",
                v2.client_id, v2.client_secret
            );
        }
        if let Some(v1) = &t.v1 {
            println!(
                "#   API 1.0: app_id = {:?}, app_key = {:?}, access_key = {:?}, secret_key = {:?}",
                v1.app_id, v1.app_key, v1.access_key, v1.secret_key
            );
        }
        if let Some(l) = &t.login {
            println!("#   login:   {} / {}", l.email, l.password);
        }
    }
    println!("\nStop with Ctrl-C.");
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    EXIT_OK
}
