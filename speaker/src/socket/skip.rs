//! Which of a node's interfaces the speaker leaves alone: the virtual ones that container
//! networking creates (one per Pod, often), and members of a bridge or bond, whose traffic
//! belongs to the bridge or bond. Answering ARP there would answer for the VIP inside the node
//! rather than on the LAN, and cost a socket and a thread per Pod.

use std::fmt;
use std::path::Path;

/// Name prefixes of interfaces made by container runtimes and CNI plugins.
const VIRTUAL_PREFIXES: &[(&str, &str)] = &[
    ("veth", "a Pod's veth"),
    ("cali", "Calico"),
    ("cilium", "Cilium"),
    ("lxc", "Cilium"),
    ("cni", "a CNI bridge"),
    ("flannel", "flannel"),
    ("weave", "Weave"),
    ("vxlan", "a VXLAN overlay"),
    ("genev", "a Geneve overlay"),
    ("tunl", "an IP-in-IP tunnel"),
    ("docker", "Docker's bridge"),
    ("kube-ipvs", "kube-proxy's IPVS dummy"),
    ("kube-bridge", "kube-router"),
    ("nodelocaldns", "NodeLocal DNSCache"),
];

/// Why an interface is not used for ARP/NDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Made by container networking (the name says by what).
    Virtual(&'static str),
    /// A port of a bridge or bond (the master's name).
    Member(String),
    /// Up, but its carrier is off (cable, switch port, or the veth's other end down).
    NoCarrier,
}

impl SkipReason {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            SkipReason::Virtual(_) => "virtual",
            SkipReason::Member(_) => "member",
            SkipReason::NoCarrier => "no-carrier",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Virtual(what) => write!(f, "made by container networking ({what})"),
            SkipReason::Member(master) => write!(f, "a member of {master}"),
            SkipReason::NoCarrier => write!(f, "no carrier"),
        }
    }
}

/// Whether to skip the interface `name`, whose bridge or bond (if any) is `master`.
pub fn skip_reason(name: &str, master: Option<&str>) -> Option<SkipReason> {
    if let Some((_, what)) = VIRTUAL_PREFIXES.iter().find(|(p, _)| name.starts_with(p)) {
        return Some(SkipReason::Virtual(what));
    }
    // Docker names a user-defined network's bridge `br-` and 12 hex digits of its ID; an
    // operator's own `br-lan` is an uplink.
    if let Some(id) = name.strip_prefix("br-")
        && id.len() == 12
        && id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Some(SkipReason::Virtual("a Docker network's bridge"));
    }
    master.map(|m| SkipReason::Member(m.to_owned()))
}

/// The bridge or bond that `name` belongs to, from sysfs (`/sys/class/net/<name>/master`).
pub fn master_of(sys_class_net: &Path, name: &str) -> Option<String> {
    let link = std::fs::read_link(sys_class_net.join(name).join("master")).ok()?;
    link.file_name().map(|n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uplinks_are_used() {
        for name in [
            "eth0", "ens3", "enp1s0f0", "bond0", "br0", "br-lan", "eth0.100", "wlan0",
        ] {
            assert_eq!(skip_reason(name, None), None, "{name}");
        }
    }

    #[test]
    fn container_networking_is_skipped_and_named() {
        for (name, what) in [
            ("veth1a2b3c", "a Pod's veth"),
            ("cali12345", "Calico"),
            ("cni0", "a CNI bridge"),
            ("flannel.1", "flannel"),
            ("docker0", "Docker's bridge"),
            ("kube-ipvs0", "kube-proxy's IPVS dummy"),
            ("lxc_health", "Cilium"),
            ("br-0f1e2d3c4b5a", "a Docker network's bridge"),
        ] {
            let r = skip_reason(name, None).unwrap_or_else(|| panic!("{name} was used"));
            assert_eq!(r, SkipReason::Virtual(what), "{name}");
            assert_eq!(r.label(), "virtual");
        }
    }

    #[test]
    fn bridge_and_bond_members_are_skipped() {
        let r = skip_reason("eth1", Some("bond0")).unwrap();
        assert_eq!(r, SkipReason::Member("bond0".into()));
        assert_eq!(r.to_string(), "a member of bond0");
        assert_eq!(r.label(), "member");
    }

    #[test]
    fn master_comes_from_sysfs() {
        let dir = std::env::temp_dir().join(format!("ferrolb-skip-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("eth1")).unwrap();
        std::fs::create_dir_all(dir.join("eth0")).unwrap();
        std::fs::create_dir_all(dir.join("br0")).unwrap();
        std::os::unix::fs::symlink("../br0", dir.join("eth1").join("master")).unwrap();
        assert_eq!(master_of(&dir, "eth1").as_deref(), Some("br0"));
        assert_eq!(master_of(&dir, "eth0"), None);
        assert_eq!(master_of(&dir, "missing"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
