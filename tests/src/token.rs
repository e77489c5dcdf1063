//! Credentials of a ServiceAccount for processes in the lab: a token from the TokenRequest API
//! and a kubeconfig that authenticates with that bearer token alone, as a pod of that
//! ServiceAccount would.

use std::path::PathBuf;

use crate::{Lab, LabError};

/// A ServiceAccount's token and a kubeconfig for processes inside the lab's namespaces that
/// carries only that token (no client certificate).
#[derive(Debug, Clone)]
pub struct TokenKubeconfig {
    /// The bearer token.
    pub token: String,
    /// The kubeconfig file (server `https://192.168.100.10:6443`, the lab's CA).
    pub path: PathBuf,
}

impl Lab {
    /// Requests a one-hour token for ServiceAccount `namespace/service_account` (with the
    /// admin kubeconfig) and writes a kubeconfig that uses only that token, for processes in
    /// the lab's namespaces.
    pub fn token_kubeconfig(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Result<TokenKubeconfig, LabError> {
        let out = self.kubectl(&[
            "create",
            "token",
            "-n",
            namespace,
            service_account,
            "--duration",
            "1h",
        ])?;
        let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let ca = self.dir().join("pki").join("ca.crt");
        let user = format!("{namespace}-{service_account}");
        let yaml = format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: lab\n  cluster:\n    server: https://{server}:6443\n    certificate-authority: {ca}\n\
             users:\n\
             - name: {user}\n  user:\n    token: {token}\n\
             contexts:\n\
             - name: {user}\n  context:\n    cluster: lab\n    user: {user}\n\
             current-context: {user}\n",
            server = Lab::host_ipv4("cp"),
            ca = ca.display(),
        );
        let path = self.dir().join(format!("kubeconfig.sa.{user}"));
        std::fs::write(&path, yaml).map_err(|e| LabError::Kubeconfig {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(TokenKubeconfig { token, path })
    }
}
