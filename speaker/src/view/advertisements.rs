//! Which L2Advertisements the plan uses. The schema refuses bad advertisements when they are
//! written; one that gets past it (stored before the rules, or with the CRD installed without
//! them) must not take working announcements away. Like MetalLB with a configuration it cannot
//! load, the speaker keeps using the advertisement's last valid version and reports the
//! problem, naming the object and field.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrolb_crds::L2Advertisement;
use kube::ResourceExt;

/// The last valid version of each advertisement, and the problems already reported.
#[derive(Debug, Default)]
pub struct Advertisements {
    last_valid: BTreeMap<String, Arc<L2Advertisement>>,
    reported: BTreeMap<String, String>,
}

/// An advertisement that cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The advertisement's name.
    pub name: String,
    /// What is wrong, naming the field.
    pub problem: String,
    /// Whether its last valid version stays in use (otherwise it is left out).
    pub kept: bool,
    /// Not reported before: this problem is new for this advertisement.
    pub new: bool,
}

impl Advertisements {
    /// The advertisements to plan with, from those in the cache: each valid one as it is, each
    /// invalid one replaced by its last valid version when there is one. Also returns the
    /// invalid ones.
    pub fn usable(
        &mut self,
        current: Vec<Arc<L2Advertisement>>,
    ) -> (Vec<Arc<L2Advertisement>>, Vec<Invalid>) {
        let mut usable = Vec::with_capacity(current.len());
        let mut invalid = Vec::new();
        let mut seen = Vec::with_capacity(current.len());
        for ad in current {
            let name = ad.name_any();
            seen.push(name.clone());
            match ad.spec.validate() {
                Ok(()) => {
                    self.reported.remove(&name);
                    self.last_valid.insert(name, ad.clone());
                    usable.push(ad);
                }
                Err(problem) => {
                    let problem = problem.to_string();
                    let kept = self.last_valid.get(&name).cloned();
                    let new = self.reported.get(&name) != Some(&problem);
                    if new {
                        self.reported.insert(name.clone(), problem.clone());
                    }
                    invalid.push(Invalid {
                        name,
                        problem,
                        kept: kept.is_some(),
                        new,
                    });
                    usable.extend(kept);
                }
            }
        }
        seen.sort_unstable();
        let present = |name: &String| seen.binary_search(name).is_ok();
        self.last_valid.retain(|name, _| present(name));
        self.reported.retain(|name, _| present(name));
        (usable, invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolb_crds::L2AdvertisementSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    fn ad(name: &str, operator: &str) -> Arc<L2Advertisement> {
        let selector = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "zone".into(),
                operator: operator.into(),
                values: Some(vec!["a".into()]),
            }]),
            match_labels: None,
        };
        Arc::new(L2Advertisement::new(
            name,
            L2AdvertisementSpec {
                node_selectors: vec![selector],
                ..Default::default()
            },
        ))
    }

    fn operators(ads: &[Arc<L2Advertisement>]) -> Vec<String> {
        ads.iter()
            .map(|a| {
                a.spec.node_selectors[0].match_expressions.as_ref().unwrap()[0]
                    .operator
                    .clone()
            })
            .collect()
    }

    #[test]
    fn a_bad_edit_keeps_the_last_valid_version_and_is_reported_once() {
        let mut ads = Advertisements::default();
        let (usable, invalid) = ads.usable(vec![ad("l2", "In")]);
        assert_eq!(operators(&usable), ["In"]);
        assert!(invalid.is_empty());

        let (usable, invalid) = ads.usable(vec![ad("l2", "Equals")]);
        assert_eq!(operators(&usable), ["In"], "the working version stays");
        assert_eq!(invalid.len(), 1);
        assert!(invalid[0].kept);
        assert_eq!(invalid[0].name, "l2");
        assert!(
            invalid[0]
                .problem
                .starts_with("spec.nodeSelectors[0].matchExpressions[0]: operator \"Equals\""),
            "{}",
            invalid[0].problem
        );
        assert!(invalid[0].new);

        let (usable, invalid) = ads.usable(vec![ad("l2", "Equals")]);
        assert_eq!(operators(&usable), ["In"]);
        assert_eq!(invalid.len(), 1);
        assert!(!invalid[0].new, "reported once");

        let (usable, invalid) = ads.usable(vec![ad("l2", "NotIn")]);
        assert_eq!(operators(&usable), ["NotIn"], "a fixed version replaces it");
        assert!(invalid.is_empty());
    }

    #[test]
    fn a_bad_advertisement_never_valid_is_left_out_and_forgotten_when_deleted() {
        let mut ads = Advertisements::default();
        let (usable, invalid) = ads.usable(vec![ad("good", "In"), ad("bad", "in")]);
        assert_eq!(usable.len(), 1);
        assert_eq!(usable[0].name_any(), "good");
        assert_eq!(invalid.len(), 1);
        assert!(!invalid[0].kept);

        // Deleted, then created again with the same mistake: reported again, nothing kept.
        let (_, invalid) = ads.usable(vec![ad("good", "In")]);
        assert!(invalid.is_empty());
        let (usable, invalid) = ads.usable(vec![ad("bad", "in")]);
        assert!(usable.is_empty());
        assert!(invalid[0].new);
        // A deleted valid advertisement is not brought back by a later bad one of its name.
        let (usable, _) = ads.usable(vec![ad("good", "Equals")]);
        assert!(usable.is_empty());
    }
}
