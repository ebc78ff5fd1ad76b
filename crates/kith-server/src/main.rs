//! `kith-server`: the Kith team server and its admin commands.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use kith_domain::{DeviceId, Role, TeamId};
use kith_server::{Config, admin, now_ms};

/// jemalloc instead of glibc's malloc: with the same documents cached, glibc's heap held 3x the
/// live bytes (freed buffers of syncs stranded between long-lived documents, never given back),
/// about 150 KiB per connected device (docs/benchmarks.md, "Memory per connected device"). The
/// `jemalloc` feature (default; it also starts jemalloc's background thread, which gives freed pages
/// back while the server idles: Cargo.toml); without it, the system malloc that heap profilers see.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(name = "kith-server", version, about = "The Kith team server: sync, live channel, board and invites")]
struct Cli {
    /// A TOML configuration file (defaults, then this file, then KITH_* environment variables).
    #[arg(long, env = "KITH_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// The data directory (holds the SQLite database).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL database instead of the SQLite file, e.g. postgres://kith:secret@db:5432/kith.
    #[arg(long, env = "KITH_DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// The address to listen on, e.g. 127.0.0.1:8457.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Print the default configuration as TOML.
    PrintConfig,
    /// Administer teams, invites and devices (works on the database directly).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create a team; prints its id and a first lead invite code.
    CreateTeam {
        #[arg(long)]
        name: String,
        /// Who to phone when the app cannot reach anyone (a number: digits, spaces, `-.()/`, a
        /// leading `+`; shown with a call button on the offline emergency notice).
        #[arg(long)]
        phone: Option<String>,
    },
    /// List teams.
    Teams,
    /// Create an invite code.
    Invite {
        #[arg(long)]
        team: TeamId,
        /// member or lead
        #[arg(long, default_value = "member")]
        role: String,
        /// How long it is valid, e.g. 7d, 12h.
        #[arg(long, default_value = "7d")]
        expires: humantime::Duration,
        /// How many devices may join with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
    },
    /// List devices.
    Devices {
        #[arg(long)]
        team: Option<TeamId>,
    },
    /// Revoke a device: its token stops working at once.
    Revoke { device: DeviceId },
    /// Deliver a team's alerts to a webhook (JSON, signed with HMAC-SHA256); --url "" removes it.
    Webhook {
        #[arg(long)]
        team: TeamId,
        #[arg(long)]
        url: String,
        /// The signing key (at least 16 characters); the receiver verifies X-Kith-Signature with it.
        #[arg(long, env = "KITH_WEBHOOK_SECRET", default_value = "")]
        secret: String,
    },
    /// The webhook delivery log of a team.
    Deliveries {
        #[arg(long)]
        team: TeamId,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Command::PrintConfig) = cli.command {
        print!("{}", Config::defaults_toml());
        return Ok(());
    }
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(d) = cli.data_dir {
        config.data_dir = Some(d);
    }
    if let Some(u) = cli.database_url {
        config.database_url = Some(u);
    }
    if let Some(l) = cli.listen {
        config.listen = l;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log)),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    rt.block_on(async move {
        match cli.command {
            None | Some(Command::Serve) => {
                kith_server::serve(config, shutdown_signal()).await?;
                Ok(())
            }
            Some(Command::PrintConfig) => Ok(()),
            Some(Command::Admin(cmd)) => run_admin(&config, cmd).await,
        }
    })
}

async fn run_admin(config: &Config, cmd: AdminCommand) -> Result<()> {
    let storage = kith_server::open_storage(config)
        .await
        .with_context(|| format!("opening the database {}", config.database_label()))?;
    let s = storage.as_ref();
    match cmd {
        AdminCommand::CreateTeam { name, phone } => {
            let (team, invite) = admin::create_team(s, &name, phone.as_deref(), now_ms()).await?;
            println!("team {team}");
            println!("lead invite {} (expires {})", invite.code, fmt_time(invite.expires_at));
        }
        AdminCommand::Teams => {
            for t in s.teams().await? {
                println!("{}  {}", t.id, t.name);
            }
        }
        AdminCommand::Invite { team, role, expires, uses } => {
            let role = match role.as_str() {
                "member" => Role::Member,
                "lead" => Role::Lead,
                other => bail!("unknown role '{other}': use member or lead"),
            };
            let d: Duration = expires.into();
            let invite = admin::create_invite(s, team, role, d, uses, now_ms()).await?;
            println!("{}", invite.code);
            eprintln!("expires {}; {uses} use(s)", fmt_time(invite.expires_at));
        }
        AdminCommand::Devices { team } => {
            for d in admin::devices(s, team).await? {
                let state = d.revoked_at.map_or("active".to_string(), |t| format!("revoked {}", fmt_time(t)));
                println!("{}  team {}  member {}  {:?}  {}", d.id, d.team, d.member, d.label, state);
            }
        }
        AdminCommand::Webhook { team, url, secret } => {
            kith_server::webhooks::configure(s, team, &url, &secret, config.alerts.webhook_allow_private).await?;
            if url.trim().is_empty() {
                println!("webhook removed for team {team}");
            } else {
                println!("alerts of team {team} go to {url}");
            }
        }
        AdminCommand::Deliveries { team } => {
            for d in s.deliveries(team).await? {
                let state = d.delivered_at.map_or_else(
                    || format!("pending, next attempt {}", fmt_time(d.next_attempt_at)),
                    |t| format!("delivered {}", fmt_time(t)),
                );
                println!(
                    "{}  {}  attempts {}  {}{}",
                    d.id,
                    d.key,
                    d.attempts,
                    state,
                    d.last_error.map(|e| format!("  last error: {e}")).unwrap_or_default()
                );
            }
        }
        AdminCommand::Revoke { device } => {
            if admin::revoke(s, device, now_ms()).await? {
                println!("revoked {device}");
            } else {
                bail!("no active device {device}: see `kith-server admin devices`");
            }
        }
    }
    storage.close().await;
    Ok(())
}

fn fmt_time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
