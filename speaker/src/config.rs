//! Command-line configuration of the speaker (every option also reads an environment variable,
//! which is how the Helm chart sets them).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::membership::envelope::{AuthKey, KeyTooShort};
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
    /// File holding the membership group's shared key.
    #[arg(long, env = "FERROLB_MEMBERLIST_KEY_FILE")]
    pub memberlist_key_file: Option<PathBuf>,
}

/// Why the membership key could not be loaded.
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
    /// The key is too short.
    #[error("membership key")]
    TooShort(#[source] KeyTooShort),
}

/// The environment variable that may hold the key itself.
pub const KEY_ENV: &str = "FERROLB_MEMBERLIST_KEY";

impl Cli {
    /// The membership key: the key file if given, else `FERROLB_MEMBERLIST_KEY`. Surrounding
    /// whitespace (a trailing newline in a Secret) is not part of the key.
    pub fn membership_key(&self) -> Result<AuthKey, KeyError> {
        let secret = match &self.memberlist_key_file {
            Some(path) => std::fs::read(path).map_err(|source| KeyError::Read {
                path: path.clone(),
                source,
            })?,
            None => std::env::var(KEY_ENV)
                .map_err(|_| KeyError::Missing)?
                .into_bytes(),
        };
        let trimmed = secret.trim_ascii().to_vec();
        AuthKey::new(trimmed).map_err(KeyError::TooShort)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_required_node_name() {
        let cli = Cli::try_parse_from(["ferrolb-speaker", "--node-name", "node1"]).unwrap();
        assert_eq!(cli.memberlist_port, 7946);
        assert_eq!(cli.metrics_addr.port(), 7473);
        assert_eq!(cli.log_format, LogFormat::Plain);
    }

    #[test]
    fn key_file_is_trimmed() {
        let dir = std::env::temp_dir().join(format!("ferrolb-key-{}", std::process::id()));
        std::fs::write(&dir, "0123456789abcdef0123\n").unwrap();
        let cli = Cli::try_parse_from([
            "ferrolb-speaker",
            "--node-name",
            "n",
            "--memberlist-key-file",
            dir.to_str().unwrap(),
        ])
        .unwrap();
        let key = cli.membership_key().unwrap();
        assert_eq!(key, AuthKey::new(*b"0123456789abcdef0123").unwrap());
        std::fs::remove_file(&dir).unwrap();
    }
}
