//! Whether this speaker may answer at all, when the group may be split.
//!
//! SWIM alone cannot tell a dead peer from one it cannot reach. Each speaker therefore also
//! renews a Lease in the API server (see `run::presence`): a peer that SWIM calls gone but
//! whose Lease is still renewed is alive on the other side of a partition. A speaker takes
//! part in elections only when the peers it reaches are a strict majority of the speakers
//! alive by either signal (on a tie, the side holding the lowest node name goes on), so two
//! sides of a partition never both answer. A speaker that reaches neither a peer nor the API
//! server stops answering: it cannot know who else answers.
//!
//! A node that really dies keeps its Lease fresh for a few seconds, but the survivors still
//! reach each other: they remain the majority (or win the tie) and fail over at SWIM's speed.
//! Only in a two-node cluster, when the node with the lower name dies, the survivor waits for
//! the dead node's Lease to expire.

use std::collections::BTreeSet;

use crate::election::NodeName;

/// What a speaker knows when it decides whether to take part.
#[derive(Debug, Clone, Copy)]
pub struct Signals<'a> {
    /// This speaker.
    pub me: &'a NodeName,
    /// The peers SWIM says are alive (this speaker not included).
    pub reached: &'a BTreeSet<NodeName>,
    /// The speakers whose Lease is being renewed (this one included when its own renewals
    /// succeed), as last seen while the API server answered.
    pub renewing: &'a BTreeSet<NodeName>,
    /// The API server answered this speaker's Lease renewals lately.
    pub api_reached: bool,
}

/// Why a speaker does not take part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandDown {
    /// It reaches neither a peer nor the API server.
    CutOff,
    /// The peers it reaches are a minority of the speakers alive.
    Minority {
        /// Speakers on this side, this one included.
        reached: usize,
        /// Speakers alive by either signal.
        alive: usize,
    },
}

impl std::fmt::Display for StandDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StandDown::CutOff => f.write_str("reaches neither a peer nor the API server"),
            StandDown::Minority { reached, alive } => write!(
                f,
                "reaches {reached} of the {alive} speakers alive, not a majority"
            ),
        }
    }
}

/// Whether the speaker may take part in elections, or why not.
pub fn decide(s: Signals<'_>) -> Result<(), StandDown> {
    if s.reached.is_empty() && !s.api_reached {
        return Err(StandDown::CutOff);
    }
    let mut side: BTreeSet<&NodeName> = s.reached.iter().collect();
    side.insert(s.me);
    let mut alive: BTreeSet<&NodeName> = s.renewing.iter().collect();
    alive.extend(side.iter().copied());
    let (reached, total) = (side.len(), alive.len());
    let wins_tie = || alive.first().is_some_and(|lowest| side.contains(lowest));
    if 2 * reached > total || (2 * reached == total && wins_tie()) {
        Ok(())
    } else {
        Err(StandDown::Minority {
            reached,
            alive: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<NodeName> {
        names.iter().map(|n| NodeName::from(*n)).collect()
    }

    fn take_part(me: &str, reached: &[&str], renewing: &[&str], api: bool) -> bool {
        decide(Signals {
            me: &NodeName::from(me),
            reached: &set(reached),
            renewing: &set(renewing),
            api_reached: api,
        })
        .is_ok()
    }

    #[test]
    fn a_whole_group_takes_part() {
        let all = ["a", "b", "c"];
        for me in all {
            let others: Vec<&str> = all.iter().copied().filter(|n| *n != me).collect();
            assert!(take_part(me, &others, &all, true));
            // The API server down changes nothing while peers are reached.
            assert!(take_part(me, &others, &all, false));
        }
    }

    #[test]
    fn of_two_sides_exactly_one_takes_part() {
        let all = ["a", "b", "c"];
        // {a} | {b, c}: the lone speaker stands down, the pair goes on.
        assert!(!take_part("a", &[], &all, true));
        assert!(take_part("b", &["c"], &all, true));
        assert!(take_part("c", &["b"], &all, true));
        // {a, b} | {c, d}: the side with the lowest name goes on.
        let four = ["a", "b", "c", "d"];
        assert!(take_part("a", &["b"], &four, true));
        assert!(take_part("b", &["a"], &four, true));
        assert!(!take_part("c", &["d"], &four, true));
        assert!(!take_part("d", &["c"], &four, true));
    }

    #[test]
    fn survivors_of_a_dead_node_go_on_at_once() {
        // c died: its Lease is still fresh for a few seconds, but a and b reach each other.
        let all = ["a", "b", "c"];
        assert!(take_part("a", &["b"], &all, true));
        assert!(take_part("b", &["a"], &all, true));
        // Two nodes: the survivor goes on at once when it holds the lower name...
        assert!(take_part("a", &[], &["a", "b"], true));
        // ...and otherwise once the dead node's Lease expires.
        assert!(!take_part("b", &[], &["a", "b"], true));
        assert!(take_part("b", &[], &["b"], true));
    }

    #[test]
    fn a_speaker_cut_off_from_everything_stands_down() {
        assert_eq!(
            decide(Signals {
                me: &NodeName::from("a"),
                reached: &set(&[]),
                renewing: &set(&["a"]),
                api_reached: false,
            }),
            Err(StandDown::CutOff)
        );
        // Alone in a one-node cluster, with the API server: it answers.
        assert!(take_part("a", &[], &["a"], true));
        // A new speaker not yet in the group waits for it.
        assert!(!take_part("d", &[], &["a", "b", "c", "d"], true));
    }

    #[test]
    fn every_split_has_at_most_one_side_taking_part() {
        let names: Vec<String> = (0..6).map(|i| format!("n{i}")).collect();
        let all: BTreeSet<NodeName> = names.iter().map(|n| NodeName::from(n.as_str())).collect();
        // Every two-way split of six speakers.
        for mask in 1u32..(1 << names.len()) - 1 {
            let side = |bit: bool| -> BTreeSet<NodeName> {
                names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (mask >> i & 1 == 1) == bit)
                    .map(|(_, n)| NodeName::from(n.as_str()))
                    .collect()
            };
            let sides = [side(true), side(false)];
            let active: Vec<bool> = sides
                .iter()
                .map(|members| {
                    members.iter().all(|me| {
                        let mut reached = members.clone();
                        reached.remove(me);
                        decide(Signals {
                            me,
                            reached: &reached,
                            renewing: &all,
                            api_reached: true,
                        })
                        .is_ok()
                    })
                })
                .collect();
            assert_eq!(active.iter().filter(|a| **a).count(), 1, "split {mask:b}");
        }
    }
}
