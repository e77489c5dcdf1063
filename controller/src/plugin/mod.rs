//! `kubectl ferrolb`: what an operator reaches for when a LoadBalancer address does not
//! answer. It reads only what the controller and the speakers write (Service status and events,
//! pools, advertisements), so it needs read access and nothing else, and it reports the same
//! facts the components act on.
//!
//! Exit status: 0 when everything shown is healthy (every address answered, every pool usable),
//! 1 when something is not, 2 when the cluster could not be read (or the arguments were wrong).

pub mod advice;
pub mod pools;
pub mod status;
pub mod table;
pub mod why;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use ferrolb_crds::{IPAddressPool, L2Advertisement};
use k8s_openapi::api::core::v1::{Event, Service};
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde::Serialize;

use pools::PoolsReport;
use status::StatusReport;
use why::WhyReport;

/// Everything shown is healthy.
pub const EXIT_HEALTHY: u8 = 0;
/// Something shown is not: an address nobody answers, a pool that cannot serve.
pub const EXIT_UNHEALTHY: u8 = 1;
/// The cluster could not be read.
pub const EXIT_ERROR: u8 = 2;

/// `kubectl ferrolb`: which node answers each LoadBalancer address, and why not.
#[derive(Debug, Parser)]
#[command(name = "kubectl-ferrolb", version, about, long_about = None)]
pub struct Cli {
    /// The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: the current one).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// The loadBalancerClass ferrolb serves, as in the chart's `loadBalancerClass` value
    /// (default: Services without a class).
    #[arg(long, global = true, env = "FERROLB_LOAD_BALANCER_CLASS")]
    pub load_balancer_class: Option<String>,
    /// What to show.
    #[command(subcommand)]
    pub command: Command,
}

/// What `kubectl ferrolb` shows.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every address of every LoadBalancer Service: the node, interface and MAC that answer
    /// it, since when, or why nobody does.
    Status,
    /// Every pool per family: addresses used and free, overlaps, the advertisements that
    /// announce it.
    Pools,
    /// One Service's allocation and announcement in plain words, with its events and what to
    /// do when an address is not answered.
    Why {
        /// The Service: `name` (in --namespace) or `namespace/name`.
        service: String,
        /// The Service's namespace.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
}

/// How reports are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns (a story for `why`).
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Runs the command; returns the exit status.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let client = client(&cli).await?;
    let class = cli.load_balancer_class.as_deref();
    let now = Timestamp::now();
    match &cli.command {
        Command::Status => {
            let services = list_all::<Service>(&client, "Services").await?;
            let report = StatusReport::new(&services, class);
            print(cli.output, &report, || report.table(now))?;
            Ok(verdict(report.unanswered == 0))
        }
        Command::Pools => {
            let pools = list_all::<IPAddressPool>(&client, "IPAddressPools").await?;
            let ads = list_all::<L2Advertisement>(&client, "L2Advertisements").await?;
            let report = PoolsReport::new(&pools, &ads);
            print(cli.output, &report, || report.table())?;
            Ok(verdict(report.unhealthy == 0))
        }
        Command::Why { service, namespace } => {
            let (namespace, name) = service
                .split_once('/')
                .unwrap_or((namespace.as_str(), service.as_str()));
            let api: Api<Service> = Api::namespaced(client.clone(), namespace);
            let svc = api
                .get_opt(name)
                .await
                .with_context(|| format!("reading Service {namespace}/{name}"))?
                .with_context(|| format!("Service {namespace}/{name} not found"))?;
            let events: Api<Event> = Api::namespaced(client, namespace);
            let fields = format!("involvedObject.kind=Service,involvedObject.name={name}");
            let events = events
                .list(&ListParams::default().fields(&fields))
                .await
                .with_context(|| format!("listing the events of Service {namespace}/{name}"))?
                .items;
            let report = WhyReport::new(&svc, &events);
            print(cli.output, &report, || report.text(now))?;
            Ok(verdict(report.answered))
        }
    }
}

fn verdict(healthy: bool) -> u8 {
    if healthy {
        EXIT_HEALTHY
    } else {
        EXIT_UNHEALTHY
    }
}

async fn client(cli: &Cli) -> anyhow::Result<Client> {
    let options = KubeConfigOptions {
        context: cli.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match (&cli.kubeconfig, &cli.context) {
        (Some(path), _) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(file, &options).await?
        }
        (None, Some(_)) => Config::from_kubeconfig(&options).await?,
        (None, None) => Config::infer()
            .await
            .context("finding the cluster (set KUBECONFIG or pass --kubeconfig)")?,
    };
    Ok(Client::try_from(config)?)
}

async fn list_all<K>(client: &Client, what: &str) -> anyhow::Result<Vec<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    Ok(api
        .list(&ListParams::default())
        .await
        .with_context(|| {
            format!("listing {what} (are ferrolb's CRDs installed, and may you read them?)")
        })?
        .items)
}

fn print<T: Serialize>(
    output: Output,
    report: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let out = match output {
        Output::Table => text(),
        Output::Json => serde_json::to_string_pretty(report)? + "\n",
        Output::Yaml => serde_yaml_ng::to_string(report)?,
    };
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_as_kubectl_passes_them() {
        let cli =
            Cli::try_parse_from(["kubectl-ferrolb", "why", "web", "-n", "shop", "-o", "json"])
                .expect("why");
        assert_eq!(cli.output, Output::Json);
        assert!(
            matches!(cli.command, Command::Why { ref service, ref namespace }
            if service == "web" && namespace == "shop")
        );
        let cli = Cli::try_parse_from(["kubectl-ferrolb", "-o", "yaml", "pools"]).expect("pools");
        assert_eq!(cli.output, Output::Yaml);
        assert!(Cli::try_parse_from(["kubectl-ferrolb", "status", "-o", "xml"]).is_err());
        assert!(Cli::try_parse_from(["kubectl-ferrolb"]).is_err());
    }
}
