//! What a Service asks of the allocator: a small domain view of a `Service` object.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ferrolb_crds::IpFamily;
use ferrolb_crds::annotations::{RequestError, ServiceRequest, service_request};
use k8s_openapi::api::core::v1::Service;

/// A Service's identity: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ServiceKey {
    /// The key of `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// `spec.ipFamilyPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StackPolicy {
    /// One address, of the first family.
    #[default]
    SingleStack,
    /// Both families when the pools allow it, else one.
    PreferDualStack,
    /// Both families or nothing.
    RequireDualStack,
}

/// The families a Service wants, from `spec.ipFamilyPolicy` and `spec.ipFamilies`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Families {
    /// The policy.
    pub policy: StackPolicy,
    /// `spec.ipFamilies` in order (the API server fills it; empty means IPv4).
    pub families: Vec<IpFamily>,
}

impl Families {
    /// Single stack of one family.
    pub fn single(family: IpFamily) -> Self {
        Self {
            policy: StackPolicy::SingleStack,
            families: vec![family],
        }
    }

    /// The first family, always wanted.
    pub fn primary(&self) -> IpFamily {
        self.families.first().copied().unwrap_or(IpFamily::IPv4)
    }

    /// The second family, if the policy asks for two: `spec.ipFamilies[1]`, or for
    /// RequireDualStack the other family. A PreferDualStack Service on a single-stack cluster
    /// (one family listed) gets one address, as kube-proxy could not route the other.
    pub fn secondary(&self) -> Option<IpFamily> {
        let other = match self.primary() {
            IpFamily::IPv4 => IpFamily::IPv6,
            IpFamily::IPv6 => IpFamily::IPv4,
        };
        match self.policy {
            StackPolicy::SingleStack => None,
            StackPolicy::PreferDualStack => self.families.get(1).copied().filter(|f| *f == other),
            StackPolicy::RequireDualStack => Some(other),
        }
    }

    /// Whether an address of `family` may be given.
    pub fn allows(&self, family: IpFamily) -> bool {
        family == self.primary() || Some(family) == self.secondary()
    }

    /// Position of `family` in the status ingress list (primary first).
    pub(crate) fn rank(&self, family: IpFamily) -> usize {
        usize::from(family != self.primary())
    }
}

/// A port's protocol (`spec.ports[].protocol`; the API server admits these three).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `TCP`, the default.
    Tcp,
    /// `UDP`.
    Udp,
    /// `SCTP`.
    Sctp,
}

impl Protocol {
    /// The protocol a port names; `None` for a name the API server would not admit.
    pub fn parse(name: Option<&str>) -> Option<Self> {
        match name {
            None | Some("TCP") => Some(Self::Tcp),
            Some("UDP") => Some(Self::Udp),
            Some("SCTP") => Some(Self::Sctp),
            Some(_) => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        })
    }
}

/// One port of a Service, as relevant to address sharing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    /// Its protocol.
    pub protocol: Protocol,
    /// Port number.
    pub port: u16,
}

#[cfg(test)]
impl Port {
    /// A TCP port.
    pub fn tcp(port: u16) -> Self {
        Self {
            protocol: Protocol::Tcp,
            port,
        }
    }

    /// A UDP port.
    pub fn udp(port: u16) -> Self {
        Self {
            protocol: Protocol::Udp,
            port,
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

/// Where traffic for the address may be delivered; Services sharing an address must agree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// `externalTrafficPolicy: Cluster`: any node may receive the traffic.
    #[default]
    Cluster,
    /// `externalTrafficPolicy: Local`: only nodes with endpoints of this pod selector.
    Local {
        /// `spec.selector`.
        selector: BTreeMap<String, String>,
    },
}

/// Everything the allocator needs to know about one Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceClaim {
    /// The Service.
    pub key: ServiceKey,
    /// The Service's labels (for `serviceSelectors`).
    pub labels: BTreeMap<String, String>,
    /// Its namespace's labels (for `namespaceSelectors`).
    pub namespace_labels: BTreeMap<String, String>,
    /// Requested addresses, pool and sharing key.
    pub request: ServiceRequest,
    /// Wanted families.
    pub families: Families,
    /// Ports, for sharing.
    pub ports: BTreeSet<Port>,
    /// Traffic policy, for sharing.
    pub backend: Backend,
}

impl ServiceClaim {
    /// A claim with no labels, no request, IPv4 single stack, no ports, `Cluster` policy.
    pub fn new(key: ServiceKey) -> Self {
        Self {
            key,
            labels: BTreeMap::new(),
            namespace_labels: BTreeMap::new(),
            request: ServiceRequest::default(),
            families: Families::default(),
            ports: BTreeSet::new(),
            backend: Backend::Cluster,
        }
    }

    /// The claim of a Service object; fails when its annotations are invalid.
    pub fn from_service(
        service: &Service,
        namespace_labels: &BTreeMap<String, String>,
    ) -> Result<Self, RequestError> {
        let meta = &service.metadata;
        let key = ServiceKey::new(
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        let request = service_request(service)?;
        let spec = service.spec.clone().unwrap_or_default();
        let policy = match spec.ip_family_policy.as_deref() {
            Some("PreferDualStack") => StackPolicy::PreferDualStack,
            Some("RequireDualStack") => StackPolicy::RequireDualStack,
            _ => StackPolicy::SingleStack,
        };
        let families = spec
            .ip_families
            .unwrap_or_default()
            .iter()
            .filter_map(|f| match f.as_str() {
                "IPv4" => Some(IpFamily::IPv4),
                "IPv6" => Some(IpFamily::IPv6),
                _ => None,
            })
            .collect();
        let ports = spec
            .ports
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                Some(Port {
                    protocol: Protocol::parse(p.protocol.as_deref())?,
                    port: u16::try_from(p.port).ok()?,
                })
            })
            .collect();
        let backend = match spec.external_traffic_policy.as_deref() {
            Some("Local") => Backend::Local {
                selector: spec.selector.unwrap_or_default(),
            },
            _ => Backend::Cluster,
        };
        Ok(Self {
            key,
            labels: meta.labels.clone().unwrap_or_default(),
            namespace_labels: namespace_labels.clone(),
            request,
            families: Families { policy, families },
            ports,
            backend,
        })
    }

    /// The part of the claim whose change moves the Service (DESIGN: requested IPs, requested
    /// pool, sharing key, IP families). Labels and pool policy never move it.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            request: self.request.clone(),
            families: self.families.clone(),
        }
    }
}

/// See [`ServiceClaim::fingerprint`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    request: ServiceRequest,
    families: Families,
}
