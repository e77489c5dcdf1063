//! NDP options (RFC 4861 section 4.6): the link-layer address options, skipping all others.

use super::{DropReason, MacAddr};

/// Option type of the source link-layer address.
pub(crate) const SOURCE_LINK_LAYER: u8 = 1;
/// Option type of the target link-layer address.
pub(crate) const TARGET_LINK_LAYER: u8 = 2;
/// Length of a link-layer address option for Ethernet.
pub(crate) const LINK_LAYER_OPTION_LEN: usize = 8;

/// The link-layer address options found in one message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LinkLayerOptions {
    /// Source link-layer address option.
    pub(crate) source: Option<MacAddr>,
    /// Target link-layer address option.
    pub(crate) target: Option<MacAddr>,
}

/// Walk the options. A zero length is an error, not an empty option: RFC 4861 requires the
/// message to be dropped, and it is what would make a naive walk loop forever.
pub(crate) fn parse(mut bytes: &[u8]) -> Result<LinkLayerOptions, DropReason> {
    let mut found = LinkLayerOptions::default();
    while !bytes.is_empty() {
        let [kind, units, ..] = *bytes else {
            return Err(DropReason::BadOption);
        };
        let len = usize::from(units) * 8;
        if len == 0 || len > bytes.len() {
            return Err(DropReason::BadOption);
        }
        let (option, rest) = bytes.split_at(len);
        let slot = match kind {
            SOURCE_LINK_LAYER => Some(&mut found.source),
            TARGET_LINK_LAYER => Some(&mut found.target),
            _ => None,
        };
        if let Some(slot) = slot {
            // An Ethernet address option is exactly one unit (RFC 2464 section 6).
            let &[_, _, a, b, c, d, e, f] = option else {
                return Err(DropReason::BadOption);
            };
            slot.get_or_insert(MacAddr::new(a, b, c, d, e, f));
        }
        bytes = rest;
    }
    Ok(found)
}

/// Write one link-layer address option into `buf` (at least 8 bytes).
pub(crate) fn emit_link_layer(buf: &mut [u8], kind: u8, mac: MacAddr) {
    buf[0] = kind;
    buf[1] = 1;
    buf[2..LINK_LAYER_OPTION_LEN].copy_from_slice(&mac.octets());
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);

    #[test]
    fn empty() {
        assert_eq!(parse(&[]), Ok(LinkLayerOptions::default()));
    }

    #[test]
    fn source_and_target() {
        let bytes = [1, 1, 2, 0, 0, 0, 0, 1, 2, 1, 2, 0, 0, 0, 0, 2];
        let found = parse(&bytes).unwrap();
        assert_eq!(found.source, Some(MAC));
        assert_eq!(found.target, Some(MacAddr::new(2, 0, 0, 0, 0, 2)));
    }

    #[test]
    fn unknown_options_are_skipped() {
        // A nonce option (14) of two units, then the source address.
        let bytes = [
            14, 2, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1, 1, 2, 0, 0, 0, 0, 1,
        ];
        assert_eq!(parse(&bytes).unwrap().source, Some(MAC));
    }

    #[test]
    fn zero_length_is_rejected() {
        assert_eq!(parse(&[1, 0, 2, 0, 0, 0, 0, 1]), Err(DropReason::BadOption));
        assert_eq!(parse(&[14, 0]), Err(DropReason::BadOption));
    }

    #[test]
    fn overrun_is_rejected() {
        assert_eq!(parse(&[1, 2, 2, 0, 0, 0, 0, 1]), Err(DropReason::BadOption));
        assert_eq!(parse(&[1]), Err(DropReason::BadOption));
        assert_eq!(parse(&[1, 1, 2, 0, 0]), Err(DropReason::BadOption));
    }

    #[test]
    fn oversized_link_layer_option_is_rejected() {
        let mut bytes = [0; 16];
        bytes[0] = 1;
        bytes[1] = 2;
        assert_eq!(parse(&bytes), Err(DropReason::BadOption));
    }

    #[test]
    fn first_address_wins() {
        let bytes = [1, 1, 2, 0, 0, 0, 0, 1, 1, 1, 2, 0, 0, 0, 0, 2];
        assert_eq!(parse(&bytes).unwrap().source, Some(MAC));
    }

    #[test]
    fn emit_round_trips() {
        let mut buf = [0; 8];
        emit_link_layer(&mut buf, TARGET_LINK_LAYER, MAC);
        assert_eq!(parse(&buf).unwrap().target, Some(MAC));
    }
}
