//! Command-line configuration of the speaker (every option also reads an environment variable,
//! which is how the Helm chart sets them).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::membership::envelope::{KeyRing, KeyRingError};
use ferrolb_crds::ops::access::MetricsAuth;
use ferrolb_crds::ops::logging::LogFormat;

/// ferrolb-speaker: answers ARP/NDP for the LoadBalancer addresses this node owns.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Cli {
    /// The name of the Node this speaker runs on.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoint.
    #[arg(long, env = "FERROLB_METRICS_ADDR", default_value = "0.0.0.0:7473")]
    pub metrics_addr: SocketAddr,
    /// Serve that endpoint on this address instead of `--metrics-addr`'s (same port): the
    /// chart passes the node's own address (`status.hostIP`), so a speaker on the host network
    /// does not serve its metrics on every interface of the node.
    #[arg(long, env = "FERROLB_METRICS_IP")]
    pub metrics_ip: Option<std::net::IpAddr>,
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
    /// Namespace of this speaker's Lease (the release's); the kubeconfig's when unset.
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
    /// Hand a node's addresses over to other nodes as soon as it is cordoned
    /// (`spec.unschedulable`), before a drain stops its Pods and its speaker.
    #[arg(long, env = "FERROLB_CORDONED_NODES_HAND_OVER")]
    pub cordoned_nodes_hand_over: bool,
    /// UDP port of the membership group, on the node's InternalIP.
    #[arg(long, env = "FERROLB_MEMBERLIST_PORT", default_value_t = 7946)]
    pub memberlist_port: u16,
    /// File holding the membership group's shared keys, one per line: the first signs, every
    /// one verifies (see the key rotation steps in the docs). Read again every 10 s.
    #[arg(long, env = "FERROLB_MEMBERLIST_KEY_FILE")]
    pub memberlist_key_file: Option<PathBuf>,
}

/// Why the membership keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Neither a key file nor `FERROLB_MEMBERLIST_KEY` was given.
    #[error("no membership key: set --memberlist-key-file or FERROLB_MEMBERLIST_KEY")]
    Missing,
    /// The key file could not be read.
    #[error("reading membership key file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The keys cannot be used.
    #[error("membership keys")]
    Invalid(#[source] KeyRingError),
}

/// The environment variable that may hold the keys themselves.
pub const KEY_ENV: &str = "FERROLB_MEMBERLIST_KEY";

/// Where the membership keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file (a mounted Secret), read again while the speaker runs so that keys rotate
    /// without a restart.
    File(PathBuf),
    /// `FERROLB_MEMBERLIST_KEY`, read once.
    Env,
}

impl KeySource {
    /// The keys, whitespace-separated (one per line); the first signs, every one verifies.
    pub fn read(&self) -> Result<KeyRing, KeyError> {
        let text = match self {
            KeySource::File(path) => std::fs::read(path).map_err(|source| KeyError::Read {
                path: path.clone(),
                source,
            })?,
            KeySource::Env => std::env::var(KEY_ENV)
                .map_err(|_| KeyError::Missing)?
                .into_bytes(),
        };
        KeyRing::parse(&text).map_err(KeyError::Invalid)
    }
}

impl Cli {
    /// Where the operations endpoint listens.
    pub fn metrics_listen(&self) -> SocketAddr {
        match self.metrics_ip {
            Some(ip) => SocketAddr::new(ip, self.metrics_addr.port()),
            None => self.metrics_addr,
        }
    }

    /// Where the membership keys come from: the key file if given, else
    /// `FERROLB_MEMBERLIST_KEY`.
    pub fn key_source(&self) -> KeySource {
        match &self.memberlist_key_file {
            Some(path) => KeySource::File(path.clone()),
            None => KeySource::Env,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::envelope::AuthKey;

    #[test]
    fn defaults_and_required_node_name() {
        let cli = Cli::try_parse_from(["ferrolb-speaker", "--node-name", "node1"]).unwrap();
        assert_eq!(cli.memberlist_port, 7946);
        assert_eq!(cli.metrics_addr.port(), 7473);
        assert_eq!(cli.log_format, LogFormat::Plain);
        assert_eq!(cli.metrics_listen(), "0.0.0.0:7473".parse().unwrap());
    }

    #[test]
    fn the_metrics_ip_replaces_the_address_and_keeps_the_port() {
        let cli = Cli::try_parse_from([
            "ferrolb-speaker",
            "--node-name",
            "n",
            "--metrics-addr",
            "0.0.0.0:9000",
            "--metrics-ip",
            "fd00:100::11",
        ])
        .unwrap();
        assert_eq!(cli.metrics_listen(), "[fd00:100::11]:9000".parse().unwrap());
    }

    #[test]
    fn key_file_lists_keys_one_per_line() {
        let dir = std::env::temp_dir().join(format!("ferrolb-key-{}", std::process::id()));
        std::fs::write(&dir, "0123456789abcdef0123\nfedcba9876543210fedc\n").unwrap();
        let cli = Cli::try_parse_from([
            "ferrolb-speaker",
            "--node-name",
            "n",
            "--memberlist-key-file",
            dir.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(cli.key_source(), KeySource::File(dir.clone()));
        let ring = cli.key_source().read().unwrap();
        assert_eq!(ring.len(), 2);
        let only_first = KeyRing::single(AuthKey::new(*b"0123456789abcdef0123").unwrap());
        assert_eq!(ring.fingerprint(), only_first.fingerprint());
        std::fs::write(&dir, "short\n").unwrap();
        assert!(matches!(
            cli.key_source().read(),
            Err(KeyError::Invalid(KeyRingError::TooShort {
                position: 1,
                ..
            }))
        ));
        std::fs::remove_file(&dir).unwrap();
    }
}
