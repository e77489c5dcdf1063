//! Prometheus metrics of the speaker, served on `/metrics`.

use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use ferrolb_crds::ops::metrics::ReasonLabels;

use crate::wire::DropReason;

/// The neighbour protocol a frame belongs to, as a label value.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Protocol {
    /// ARP (IPv4).
    Arp,
    /// NDP (IPv6).
    Ndp,
}

impl EncodeLabelValue for Protocol {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            Protocol::Arp => "arp",
            Protocol::Ndp => "ndp",
        })
    }
}

/// Labels of the per-protocol counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrameLabels {
    /// ARP or NDP.
    pub protocol: Protocol,
    /// The interface the frame was seen on.
    pub interface: String,
}

/// Labels of the drop counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// ARP or NDP.
    pub protocol: Protocol,
    /// The interface the frame was seen on.
    pub interface: String,
    /// Why it was not answered (a [`DropReason`] label).
    pub reason: String,
}

/// Labels of counters split by what came of an event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What came of it.
    pub outcome: String,
}

/// Which of the group's keys opened a membership datagram.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum KeyRole {
    /// This speaker's signing key (the first of its list).
    Signing,
    /// Another key of its list: a peer still signs with it.
    Other,
}

impl EncodeLabelValue for KeyRole {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            KeyRole::Signing => "signing",
            KeyRole::Other => "other",
        })
    }
}

/// Labels of the datagram counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    /// The key that opened it.
    pub key: KeyRole,
}

/// Labels of the signing-key gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FingerprintLabels {
    /// The first 8 hex digits of the key's SHA-256.
    pub fingerprint: String,
}

/// Every metric the speaker exports.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// ARP requests / neighbour solicitations received.
    pub requests: Family<FrameLabels, Counter>,
    /// Replies / advertisements sent in answer to a request.
    pub replies: Family<FrameLabels, Counter>,
    /// Frames received and not answered, by reason.
    pub drops: Family<DropLabels, Counter>,
    /// Gratuitous ARP / unsolicited neighbour advertisements sent.
    pub gratuitous: Family<FrameLabels, Counter>,
    /// Probes (RFC 5227 / DAD) sent before a first announcement.
    pub probes: Family<FrameLabels, Counter>,
    /// Addresses this node announces now.
    pub owned_addresses: Gauge,
    /// Members of the membership group alive, this speaker included.
    pub members_alive: Gauge,
    /// Address conflicts detected (another host claims an owned address), by outcome:
    /// `defended` (one announcement sent, the address kept) or `withdrawn`.
    pub conflicts: Family<OutcomeLabels, Counter>,
    /// Membership datagrams refused (bad key, malformed), by reason.
    pub bad_membership_messages: Family<ReasonLabels, Counter>,
    /// Service status writes, by outcome.
    pub status_writes: Family<ReasonLabels, Counter>,
    /// L2Advertisements that cannot be used as they are (their last valid version is used).
    pub invalid_advertisements: Gauge,
    /// The node's interfaces by what the speaker does with them: `answering`, or why not
    /// (`virtual`, `member`, `no-carrier`).
    pub interfaces: Family<ReasonLabels, Gauge>,
    /// Services this speaker writes the condition of that no node announces.
    pub unannounced_services: Gauge,
    /// Membership datagrams opened, by the key that opened them.
    pub membership_datagrams: Family<KeyLabels, Counter>,
    /// Keys this speaker accepts.
    pub membership_keys: Gauge,
    /// The key this speaker signs with: 1 for its fingerprint.
    pub membership_signing_key: Family<FingerprintLabels, Gauge>,
}

impl Metrics {
    /// Shows the keys in use (after start and after each reload).
    pub fn set_keys(&self, keys: &crate::membership::envelope::KeyRing) {
        self.membership_keys
            .set(i64::try_from(keys.len()).unwrap_or(i64::MAX));
        self.membership_signing_key.clear();
        self.membership_signing_key
            .get_or_create(&FingerprintLabels {
                fingerprint: keys.fingerprint(),
            })
            .set(1);
    }
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics::default();
        let r = registry.sub_registry_with_prefix("ferrolb_speaker");
        r.register(
            "requests",
            "ARP requests and neighbour solicitations received",
            m.requests.clone(),
        );
        r.register(
            "replies",
            "ARP replies and neighbour advertisements sent in answer",
            m.replies.clone(),
        );
        r.register("drops", "Frames not answered, by reason", m.drops.clone());
        r.register(
            "gratuitous",
            "Gratuitous ARP and unsolicited neighbour advertisements sent",
            m.gratuitous.clone(),
        );
        r.register(
            "probes",
            "Address probes sent before a first announcement",
            m.probes.clone(),
        );
        r.register(
            "owned_addresses",
            "Addresses this node announces",
            m.owned_addresses.clone(),
        );
        r.register(
            "members_alive",
            "Speakers alive in the membership group, this one included",
            m.members_alive.clone(),
        );
        r.register(
            "conflicts",
            "Address conflicts with other hosts, by outcome (defended or withdrawn)",
            m.conflicts.clone(),
        );
        r.register(
            "bad_membership_messages",
            "Membership datagrams refused, by reason",
            m.bad_membership_messages.clone(),
        );
        r.register(
            "status_writes",
            "Service status writes, by outcome",
            m.status_writes.clone(),
        );
        r.register(
            "interfaces",
            "Interfaces answering ARP/NDP, and those left alone by reason",
            m.interfaces.clone(),
        );
        r.register(
            "unannounced_services",
            "Services whose Announced condition this speaker writes and that no node announces",
            m.unannounced_services.clone(),
        );
        r.register(
            "membership_datagrams",
            "Membership datagrams opened, by the key that opened them (signing or other)",
            m.membership_datagrams.clone(),
        );
        r.register(
            "membership_keys",
            "Membership keys this speaker accepts",
            m.membership_keys.clone(),
        );
        r.register(
            "membership_signing_key",
            "The membership key this speaker signs with, by fingerprint",
            m.membership_signing_key.clone(),
        );
        r.register(
            "invalid_advertisements",
            "L2Advertisements that cannot be used as they are",
            m.invalid_advertisements.clone(),
        );
        m
    }

    /// Counts a dropped frame.
    pub fn drop_frame(&self, protocol: Protocol, interface: &str, reason: DropReason) {
        self.drops
            .get_or_create(&DropLabels {
                protocol,
                interface: interface.to_owned(),
                reason: reason.label().to_owned(),
            })
            .inc();
    }
}

/// The labels of one protocol on one interface.
pub fn frame_labels(protocol: Protocol, interface: &str) -> FrameLabels {
    FrameLabels {
        protocol,
        interface: interface.to_owned(),
    }
}
