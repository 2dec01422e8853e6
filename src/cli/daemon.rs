//! `pbx321 daemon`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::{CmdResult, Exit, Failure, load_config};
use crate::daemon::{self, Ops, Shared};

/// Run the configured schedules: backups, checks, drills, prune and repair, with
/// notifications and /metrics, /healthz, /api/status over HTTP
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Schedules are cron expressions in [[source]] schedule = \"…\" and [schedule];
`pbx321 schedule` prints when each job runs next. See docs/scheduling.md.

SIGNALS
  SIGTERM, SIGINT  start nothing new; running uploads get [daemon] shutdown_grace, then are
                   aborted cleanly (nothing partial counts); exit 0
  SIGHUP           reload the config; a bad one is logged and the old one kept

EXIT STATUS
  0  stopped by a signal
  1  could not start (the listen address is taken, the state directory is not writable)
  2  usage or config error"
)]
pub struct Args {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Only the sources whose name hashes to shard I of N (0 <= I < N), e.g. 0/3
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> CmdResult {
    let path = config.clone();
    let mut cfg = load_config(config).map_err(|e| Failure::new(Exit::Usage, e))?;
    if let Some(s) = &args.shard {
        cfg.daemon.shard = Some(
            crate::config::Shard::parse(s)
                .map_err(|e| Failure::new(Exit::Usage, anyhow::anyhow!(e)))?,
        );
    }
    let shard = cfg.daemon.shard;
    crate::state::StateDir::new(&cfg.state_dir)
        .ensure()
        .map_err(|e| Failure::new(Exit::Failed, e))?;
    let token =
        match &cfg.daemon.auth_token {
            Some(t) => Some(t.resolve().map_err(|e| {
                Failure::new(Exit::Usage, anyhow::anyhow!("[daemon] auth_token: {e}"))
            })?),
            None => None,
        };
    let status: Shared = Arc::default();
    // From the first second: the last runs a previous daemon persisted.
    daemon::lock(&status).last = daemon::load_last(&crate::state::StateDir::new(&cfg.state_dir));
    let listener = tokio::net::TcpListener::bind(cfg.daemon.listen)
        .await
        .map_err(|e| {
            Failure::new(
                Exit::Failed,
                anyhow::anyhow!(
                    "cannot listen on {} ([daemon] listen): {e}",
                    cfg.daemon.listen
                ),
            )
        })?;
    tracing::info!(listen = %cfg.daemon.listen, "serving the status page at /, and /metrics, /healthz, /api/status");
    let (actions_tx, actions_rx) = tokio::sync::mpsc::channel(16);
    // A shallow check at once, so that every source and target, and their verdicts, are on
    // the page, in /api/status and in /metrics from the first minute, whatever the schedule.
    if let Some(check) = daemon::action_job(crate::policy::schedule::JobKind::Check) {
        let _ = actions_tx.try_send(check);
    }
    tracing::info!(
        sources = cfg.sources.len(),
        targets = cfg.targets.len(),
        config = %cfg.path.display(),
        "daemon started: {} sources, {} targets",
        cfg.sources.len(),
        cfg.targets.len()
    );
    let app = daemon::http::router(Arc::clone(&status), token, actions_tx, cfg.daemon.listen);
    tokio::spawn(daemon::serve::serve(listener, app));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(4);
    let signals = async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return std::future::pending::<()>().await;
        };
        loop {
            tokio::select! {
                _ = term.recv() => { let _ = stop_tx.send(true); }
                _ = int.recv() => { let _ = stop_tx.send(true); }
                _ = hup.recv() => match load_config(path.clone()) {
                    Ok(mut new) => {
                        new.daemon.shard = shard;
                        let _ = reload_tx.send(new).await;
                    }
                    Err(e) => tracing::error!("SIGHUP: the new config is refused, the old one is kept: {}", super::error_text(&e)),
                },
            }
        }
    };
    tokio::spawn(signals);
    let runner = Ops {
        status: Arc::clone(&status),
        stop: Some(stop_rx.clone()),
        clock: None,
    };
    daemon::run_loop(
        cfg,
        &runner,
        daemon::tokio_clock(),
        status,
        daemon::Inputs {
            stop: stop_rx,
            reload: reload_rx,
            actions: actions_rx,
        },
    )
    .await
    .map_err(|e| Failure::new(Exit::Failed, e))?;
    tracing::info!("stopped");
    Ok(ExitCode::from(Exit::Ok))
}
