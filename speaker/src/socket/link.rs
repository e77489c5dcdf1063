//! One interface of this node and the packet sockets open on it.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::fd::IntoRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use pnet::datalink::{self, Channel, ChannelType, NetworkInterface};
use socket2::{Domain, Protocol, SockFilter, Socket, Type};

use super::filter;
use super::skip::{SkipReason, master_of, skip_reason};
use crate::wire::MacAddr;

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// How long a responder thread blocks on a read before it checks whether to stop.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_millis(200);
/// How long a send may block (a full transmit queue) before the frame is given up.
const WRITE_TIMEOUT: Duration = Duration::from_millis(100);
/// Room for one frame: ARP and neighbour discovery frames are small, and a longer frame is cut
/// short and then dropped as malformed.
const FRAME_BUFFER: usize = 4096;

/// Why a packet socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Opening, filtering or binding the socket failed (the speaker needs CAP_NET_RAW).
    #[error("opening the {protocol} packet socket on {interface}")]
    Open {
        /// The interface.
        interface: String,
        /// ARP or NDP.
        protocol: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// An interface that is up, as the election and the responders see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalInterface {
    /// Its name (`eth0`).
    pub name: String,
    /// Its hardware address.
    pub mac: MacAddr,
    /// Its networks.
    pub nets: Vec<IpNet>,
    pnet: NetworkInterface,
}

/// The interfaces of this node that can announce, and those left alone with why.
///
/// An interface can announce when it is up with its carrier on (a link that lost its carrier
/// is skipped, so that another node takes its addresses over), is not loopback, has a MAC,
/// and has an address or is named in `listed` (the interfaces L2Advertisements list: an
/// interface used only for Service addresses needs no address of its own). Interfaces made by
/// container networking and members of a bridge or bond are skipped (see `skip`), unless an
/// advertisement lists them by name.
pub fn local_interfaces(
    listed: &BTreeSet<String>,
) -> (Vec<LocalInterface>, Vec<(String, SkipReason)>) {
    let sys = Path::new("/sys/class/net");
    let mut skipped = Vec::new();
    let mut found: Vec<LocalInterface> = datalink::interfaces()
        .into_iter()
        .filter(|i| i.is_up() && !i.is_loopback())
        .filter(|i| !i.ips.is_empty() || listed.contains(&i.name))
        .filter(|i| {
            let reason = if listed.contains(&i.name) {
                None
            } else {
                skip_reason(&i.name, master_of(sys, &i.name).as_deref())
            };
            let reason = reason.or_else(|| (!i.is_lower_up()).then_some(SkipReason::NoCarrier));
            match reason {
                Some(reason) => {
                    skipped.push((i.name.clone(), reason));
                    false
                }
                None => true,
            }
        })
        .filter_map(|i| {
            let mac = i.mac.filter(|m| *m != MacAddr::zero())?;
            let nets = i
                .ips
                .iter()
                .filter_map(|n| IpNet::new(n.ip(), n.prefix()).ok())
                .collect();
            Some(LocalInterface {
                name: i.name.clone(),
                mac,
                nets,
                pnet: i,
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    (found, skipped)
}

/// The interface kube-proxy puts every Service address on in IPVS mode.
const IPVS_DUMMY: &str = "kube-ipvs0";

/// Whether this node's kernel itself answers ARP for Service addresses on one of
/// `interfaces`: kube-proxy in IPVS mode puts them on `kube-ipvs0`, and unless its
/// `strictARP` is set (`arp_ignore` 1 or more) Linux answers ARP for any local address on any
/// interface, so every node answers for every address besides the speaker's owner.
pub fn kernel_answers_arp<'a>(interfaces: impl IntoIterator<Item = &'a str>) -> bool {
    if !Path::new("/sys/class/net").join(IPVS_DUMMY).exists() {
        return false;
    }
    let arp_ignore = |conf: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{conf}/arp_ignore"))
            .ok()
            .and_then(|v| v.trim().parse::<u8>().ok())
    };
    let all = arp_ignore("all");
    interfaces
        .into_iter()
        .any(|i| answers_arp_for_other_interfaces(all, arp_ignore(i)))
}

/// Whether an interface whose `arp_ignore` is `own` (the `all` setting being `all`) answers
/// ARP for addresses configured on other interfaces: Linux uses the larger of the two, and
/// only 0 answers for any local address. Unknown values count as not answering.
fn answers_arp_for_other_interfaces(all: Option<u8>, own: Option<u8>) -> bool {
    matches!((all, own), (Some(0), Some(0)))
}

/// An interface with its ARP socket and, when it has IPv6, its NDP socket.
pub struct Link {
    /// The interface name (shared with the tables of owned addresses).
    pub name: Arc<str>,
    /// The interface index.
    pub index: u32,
    /// The interface's hardware address.
    pub mac: MacAddr,
    nets: RwLock<(Vec<Ipv4Net>, Vec<Ipv6Net>)>,
    arp: Socket,
    ndp: Option<Socket>,
    stop: AtomicBool,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("name", &self.name)
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}

/// Reads one frame at a time from a packet socket, for a responder thread.
pub struct FrameReader {
    socket: Socket,
    buffer: Box<[u8]>,
}

impl FrameReader {
    /// The next frame; an error of kind `WouldBlock` or `TimedOut` when none came within the
    /// read timeout.
    pub fn next(&mut self) -> std::io::Result<&[u8]> {
        let n = (&self.socket).read(&mut self.buffer)?;
        Ok(&self.buffer[..n])
    }
}

/// The reading side of a link's sockets, for its responder threads.
pub struct Receivers {
    /// ARP frames.
    pub arp: FrameReader,
    /// Neighbour solicitations and advertisements.
    pub ndp: Option<FrameReader>,
}

/// Opens a packet socket on `iface` for `ethertype` frames that pass `program`, bound to the
/// interface. Returns it twice (two descriptors of one socket): one to send on, one to read.
///
/// pnet binds the socket to the interface. Its reader and writer then poll the socket before
/// every frame; under an ARP flood those polls were 40% of a responder's time (a profile of
/// the speaker benchmark), so frames are read and written on the socket directly, with the
/// socket's own timeouts in place of the polls.
fn open(
    iface: &NetworkInterface,
    protocol: &'static str,
    ethertype: u16,
    program: &[SockFilter],
) -> Result<(Socket, FrameReader), LinkError> {
    let err = |source| LinkError::Open {
        interface: iface.name.clone(),
        protocol,
        source,
    };
    // Bound to the ethertype from the start, so the kernel queues nothing else on it.
    let socket = Socket::new(
        Domain::PACKET,
        Type::RAW,
        Some(Protocol::from(i32::from(ethertype.to_be()))),
    )
    .map_err(err)?;
    socket.attach_filter(program).map_err(err)?;
    let sending = socket.try_clone().map_err(err)?;
    let config = datalink::Config {
        channel_type: ChannelType::Layer3(ethertype),
        socket_fd: Some(socket.into_raw_fd()),
        promiscuous: false,
        ..Default::default()
    };
    // pnet's own halves are dropped at once: `sending` keeps the bound socket open.
    match datalink::channel(iface, config).map_err(err)? {
        Channel::Ethernet(_, _) => {}
        _ => return Err(err(std::io::Error::other("not an Ethernet channel"))),
    }
    // pnet made the socket non-blocking; the responder blocks on it, up to the timeouts.
    sending.set_nonblocking(false).map_err(err)?;
    sending.set_read_timeout(Some(READ_TIMEOUT)).map_err(err)?;
    sending
        .set_write_timeout(Some(WRITE_TIMEOUT))
        .map_err(err)?;
    let reading = sending.try_clone().map_err(err)?;
    Ok((
        sending,
        FrameReader {
            socket: reading,
            buffer: vec![0; FRAME_BUFFER].into_boxed_slice(),
        },
    ))
}

impl Link {
    /// Opens the sockets of `iface`.
    pub fn open(iface: &LocalInterface) -> Result<(Link, Receivers), LinkError> {
        let (arp_tx, arp_rx) = open(&iface.pnet, "ARP", ETHERTYPE_ARP, &filter::arp())?;
        let has_v6 = iface.nets.iter().any(|n| matches!(n, IpNet::V6(_)));
        let (ndp, ndp_rx) = if has_v6 {
            let (tx, rx) = open(&iface.pnet, "NDP", ETHERTYPE_IPV6, &filter::ndp())?;
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let link = Link {
            name: iface.name.as_str().into(),
            index: iface.pnet.index,
            mac: iface.mac,
            nets: RwLock::new((Vec::new(), Vec::new())),
            arp: arp_tx,
            ndp,
            stop: AtomicBool::new(false),
        };
        link.set_nets(&iface.nets);
        Ok((
            link,
            Receivers {
                arp: arp_rx,
                ndp: ndp_rx,
            },
        ))
    }

    /// Records the interface's current networks (addresses may change while it is up).
    pub fn set_nets(&self, nets: &[IpNet]) {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match net {
                IpNet::V4(n) => v4.push(*n),
                IpNet::V6(n) => v6.push(*n),
            }
        }
        if let Ok(mut guard) = self.nets.write() {
            *guard = (v4, v6);
        }
    }

    /// The interface's networks, IPv4 and IPv6.
    pub fn nets(&self) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
        self.nets.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// Sends an ARP frame; false if it could not be sent.
    pub fn send_arp(&self, frame: &[u8]) -> bool {
        send(&self.arp, frame)
    }

    /// Sends an NDP frame; false if it could not be sent or the link has no IPv6.
    pub fn send_ndp(&self, frame: &[u8]) -> bool {
        self.ndp.as_ref().is_some_and(|s| send(s, frame))
    }

    /// Asks the responder threads to end (within one read timeout).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether the responder threads should end.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

fn send(socket: &Socket, frame: &[u8]) -> bool {
    // The socket is bound to the interface: a frame needs no address.
    socket.send(frame).is_ok_and(|n| n == frame.len())
}

#[cfg(test)]
mod arp_ignore_tests {
    use super::answers_arp_for_other_interfaces as answers;

    #[test]
    fn only_arp_ignore_zero_on_both_answers_for_other_interfaces() {
        assert!(answers(Some(0), Some(0)));
        for (all, own) in [
            (Some(1), Some(0)),
            (Some(0), Some(1)),
            (Some(2), Some(2)),
            (None, Some(0)),
            (Some(0), None),
        ] {
            assert!(!answers(all, own), "{all:?} {own:?}");
        }
    }
}
