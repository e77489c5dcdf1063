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
        self.write_token_kubeconfig(namespace, service_account, None)
    }

    /// [`Lab::token_kubeconfig`] for a component on `node`: the token is bound to a Pod of the
    /// ServiceAccount on that node (the Pod object is created here; nothing runs it), so it
    /// carries the node's name as the token of a Pod the kubelet started does.
    pub fn node_token_kubeconfig(
        &self,
        namespace: &str,
        service_account: &str,
        node: &str,
    ) -> Result<TokenKubeconfig, LabError> {
        let pod = format!("{service_account}-{node}");
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}, namespace: {namespace}}}\n\
             spec:\n  nodeName: {node}\n  serviceAccountName: {service_account}\n  \
             containers: [{{name: bound, image: lab.invalid/none}}]\n"
        );
        self.apply_yaml(&yaml, &[])?;
        self.write_token_kubeconfig(namespace, service_account, Some(&pod))
    }

    fn write_token_kubeconfig(
        &self,
        namespace: &str,
        service_account: &str,
        pod: Option<&str>,
    ) -> Result<TokenKubeconfig, LabError> {
        let mut args = vec![
            "create",
            "token",
            "-n",
            namespace,
            service_account,
            "--duration",
            "1h",
        ];
        if let Some(pod) = pod {
            args.extend(["--bound-object-kind", "Pod", "--bound-object-name", pod]);
        }
        let out = self.kubectl(&args)?;
        let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let ca = self.dir().join("pki").join("ca.crt");
        let user = match pod {
            Some(pod) => format!("{namespace}-{pod}"),
            None => format!("{namespace}-{service_account}"),
        };
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
