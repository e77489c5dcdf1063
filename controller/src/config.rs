//! Command-line configuration of the controller.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use ferrolb_crds::ops::access::MetricsAuth;
use ferrolb_crds::ops::logging::LogFormat;

/// ferrolb-controller: assigns EXTERNAL-IPs from IPAddressPools to LoadBalancer Services.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do; without a subcommand the controller runs.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the controller itself.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands besides running the controller.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print ferrolb YAML equivalent to MetalLB's configuration (CRs or the legacy ConfigMap).
    MigrateMetallb(MigrateArgs),
}

/// Options of `migrate-metallb`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// MetalLB YAML files (IPAddressPool, L2Advertisement or the legacy ConfigMap); without
    /// files, the objects are read from the cluster.
    pub files: Vec<PathBuf>,
}

/// Options of the running controller.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoint.
    #[arg(long, env = "FERROLB_METRICS_ADDR", default_value = "0.0.0.0:7472")]
    pub metrics_addr: SocketAddr,
    /// Who may read `/metrics`: `none` (anyone who reaches the endpoint's address) or
    /// `kubernetes` (callers whose bearer token the API server authenticates and allows to
    /// `get` the URL `/metrics`; the endpoint then speaks HTTPS with a self-signed
    /// certificate). The health probes are always open.
    #[arg(long, env = "FERROLB_METRICS_AUTH", value_enum, default_value = "none")]
    pub metrics_auth: MetricsAuth,
    /// Log line format.
    #[arg(long, env = "FERROLB_LOG_FORMAT", value_enum, default_value = "plain")]
    pub log_format: LogFormat,
    /// Serve only Services with this `spec.loadBalancerClass`; unset: only those with no class.
    #[arg(long, env = "FERROLB_LOAD_BALANCER_CLASS")]
    pub load_balancer_class: Option<String>,
    /// The `ipMode` written with each address: `VIP` (traffic reaches the node with the
    /// address as its destination, as in layer 2) or `Proxy` (a proxy in front rewrites it).
    #[arg(long, env = "FERROLB_IP_MODE", value_enum, default_value = "VIP")]
    pub ip_mode: crate::status::IpMode,
    /// Elect a leader among replicas with a Lease; only the leader writes.
    #[arg(long, env = "FERROLB_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Namespace of the leader Lease (defaults to the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "ferrolb-system")]
    pub lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, env = "FERROLB_LEASE_NAME", default_value = "ferrolb-controller")]
    pub lease_name: String,
    /// Seconds a leader's lease lasts without renewal.
    #[arg(long, env = "FERROLB_LEASE_SECONDS", default_value_t = 15)]
    pub lease_seconds: u64,
    /// This replica's identity (defaults to the pod name, else the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}
