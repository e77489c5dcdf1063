//! What an operator can do about each reason a Service's address is not answered, in plain
//! words. `docs/troubleshooting.md` says the same at length, one section per reason.

use ferrolb_crds::conditions::{allocated, announced};

use super::status::{NOT_PROCESSED, NOT_REPORTED};

/// The next step for `reason`, if ferrolb knows one.
pub fn advice(reason: &str) -> Option<&'static str> {
    Some(match reason {
        allocated::POOL_EXHAUSTED => {
            "Every pool that admits this Service is full. `kubectl ferrolb pools` shows which; \
             add addresses to one of them, or delete a Service that no longer needs its address."
        }
        allocated::NO_MATCHING_POOL => {
            "No pool admits this Service. Compare the pools' spec.serviceAllocation (namespaces, \
             namespaceSelectors, serviceSelectors) and spec.autoAssign with the Service's \
             namespace, labels and spec.ipFamilies."
        }
        allocated::NO_DUAL_STACK_POOL => {
            "The Service requires both IP families, and no pool that admits it holds both. A \
             Service's addresses come from one pool: add IPv4 and IPv6 ranges to one pool."
        }
        allocated::REQUESTED_IPS_IN_SEVERAL_POOLS => {
            "The requested IPs lie in different pools; a Service's addresses come from one pool. \
             Request addresses of one pool, or put them in one."
        }
        allocated::REQUESTED_IP_OUTSIDE_POOLS => {
            "A requested IP is in no pool that admits the Service. Add it to a pool (or let the \
             pool admit the Service), or request another address."
        }
        allocated::REQUESTED_IP_IN_USE => {
            "A requested IP is held by a Service this one may not share with. Give both the same \
             ferrolb.io/allow-shared-ip key (with ports that do not clash), or request another \
             address."
        }
        allocated::REQUESTED_IP_FAMILY_MISMATCH => {
            "The requested IPs do not fit the Service's spec.ipFamilies; request one address of \
             each family the Service has."
        }
        allocated::REQUESTED_POOL_NOT_FOUND => {
            "The ferrolb.io/address-pool annotation names a pool that does not exist \
             (`kubectl get ipaddresspools`)."
        }
        allocated::REQUESTED_POOL_NOT_ALLOWED => {
            "The requested pool's spec.serviceAllocation does not admit this Service's namespace \
             or labels."
        }
        allocated::REQUESTED_POOL_INVALID => {
            "The requested pool's spec is invalid: its Valid condition names the bad entry \
             (`kubectl ferrolb pools`)."
        }
        allocated::INVALID_ANNOTATION => {
            "An annotation (or spec.loadBalancerIP) has a value ferrolb cannot use; the \
             condition's message names it."
        }
        announced::NO_MATCHING_ADVERTISEMENT => {
            "No L2Advertisement selects the address's pool, so no node answers for it. Create \
             one, or add the pool to an existing one's spec.ipAddressPools."
        }
        announced::NO_ELIGIBLE_NODE => {
            "No node can answer: none is alive, selected by the L2Advertisement's nodeSelectors, \
             ready, and up on one of its interfaces. Check that the speaker Pods run, and the \
             advertisement's spec.nodeSelectors and spec.interfaces."
        }
        announced::NO_READY_ENDPOINT => {
            "externalTrafficPolicy is Local and no node has a ready endpoint of the Service: \
             only a node with one may answer. Check the Service's Pods."
        }
        announced::ADDRESS_CONFLICT => {
            "Another host on the network uses this address (the message gives its MAC). Take \
             the address off that host, or take it out of the pool; the speaker announces it \
             again once nobody else answers."
        }
        announced::KERNEL_ANSWERS_ARP => {
            "kube-proxy runs in IPVS mode without strictARP, so every node's kernel answers ARP \
             for the address too. Set strictARP: true in kube-proxy's configuration."
        }
        NOT_PROCESSED => {
            "No ferrolb controller has written this Service's status. Check that the controller \
             runs and leads, and that the Service's spec.loadBalancerClass is the one ferrolb \
             serves."
        }
        NOT_REPORTED => {
            "The Service has an address, but no speaker has reported on it. Check that the \
             speaker Pods run and that the speakers' ServiceAccount may write Service status."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_that_leaves_an_address_unanswered_has_advice() {
        for reason in [
            allocated::POOL_EXHAUSTED,
            allocated::NO_MATCHING_POOL,
            allocated::NO_DUAL_STACK_POOL,
            allocated::REQUESTED_IPS_IN_SEVERAL_POOLS,
            allocated::REQUESTED_IP_OUTSIDE_POOLS,
            allocated::REQUESTED_IP_IN_USE,
            allocated::REQUESTED_IP_FAMILY_MISMATCH,
            allocated::REQUESTED_POOL_NOT_FOUND,
            allocated::REQUESTED_POOL_NOT_ALLOWED,
            allocated::REQUESTED_POOL_INVALID,
            allocated::INVALID_ANNOTATION,
            announced::NO_MATCHING_ADVERTISEMENT,
            announced::NO_ELIGIBLE_NODE,
            announced::NO_READY_ENDPOINT,
            announced::ADDRESS_CONFLICT,
            announced::KERNEL_ANSWERS_ARP,
            NOT_PROCESSED,
            NOT_REPORTED,
        ] {
            assert!(advice(reason).is_some(), "{reason}");
        }
        assert_eq!(advice(announced::ANNOUNCED), None);
    }
}
