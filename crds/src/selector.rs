//! Label selectors as the Kubernetes API defines them. The API server does not check the
//! selectors inside custom resources; the schema's CEL rules ([`crate::validation`]) and
//! [`check`] here refuse the same selectors: an unknown operator, `In`/`NotIn` without values,
//! `Exists`/`DoesNotExist` with values.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};

/// Why a label selector cannot be evaluated; the index is the requirement's position in
/// `matchExpressions`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Not one of the four operators.
    #[error("matchExpressions[{0}]: operator \"{1}\" is not In, NotIn, Exists or DoesNotExist")]
    Operator(usize, String),
    /// `In` or `NotIn` with no value.
    #[error("matchExpressions[{0}]: {1} needs at least one value")]
    NoValues(usize, String),
    /// `Exists` or `DoesNotExist` with values.
    #[error("matchExpressions[{0}]: {1} takes no values")]
    Values(usize, String),
}

/// Checks that `selector` can be evaluated.
pub fn check(selector: &LabelSelector) -> Result<(), SelectorError> {
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let has_values = req.values.as_ref().is_some_and(|v| !v.is_empty());
        let op = || req.operator.clone();
        match req.operator.as_str() {
            "In" | "NotIn" if !has_values => return Err(SelectorError::NoValues(i, op())),
            "Exists" | "DoesNotExist" if has_values => return Err(SelectorError::Values(i, op())),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            _ => return Err(SelectorError::Operator(i, op())),
        }
    }
    Ok(())
}

/// Checks every selector of a list; the error names the field, e.g. `spec.nodeSelectors[1]`.
pub fn check_all(field: &str, selectors: &[LabelSelector]) -> Result<(), String> {
    for (i, s) in selectors.iter().enumerate() {
        check(s).map_err(|e| format!("{field}[{i}].{e}"))?;
    }
    Ok(())
}

/// Whether `selector` matches `labels`. A selector that cannot be evaluated matches nothing:
/// read as written, `NotIn` with no values would match everything.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    check(selector).is_ok() && Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn with(operator: &str, values: Option<Vec<&str>>) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "zone".into(),
                operator: operator.into(),
                values: values.map(|v| v.into_iter().map(String::from).collect()),
            }]),
            match_labels: None,
        }
    }

    #[test]
    fn the_four_operators_with_their_values_pass() {
        assert_eq!(check(&with("In", Some(vec!["a"]))), Ok(()));
        assert_eq!(check(&with("NotIn", Some(vec!["a", "b"]))), Ok(()));
        assert_eq!(check(&with("Exists", None)), Ok(()));
        assert_eq!(check(&with("DoesNotExist", Some(vec![]))), Ok(()));
        assert_eq!(check(&LabelSelector::default()), Ok(()));
    }

    #[test]
    fn bad_requirements_are_named() {
        assert_eq!(
            check(&with("Equals", Some(vec!["a"]))),
            Err(SelectorError::Operator(0, "Equals".into()))
        );
        assert_eq!(
            check(&with("In", Some(vec![]))),
            Err(SelectorError::NoValues(0, "In".into()))
        );
        assert_eq!(
            check(&with("NotIn", None)),
            Err(SelectorError::NoValues(0, "NotIn".into()))
        );
        assert_eq!(
            check(&with("Exists", Some(vec!["a"]))),
            Err(SelectorError::Values(0, "Exists".into()))
        );
        let list = [LabelSelector::default(), with("in", Some(vec!["a"]))];
        assert_eq!(
            check_all("spec.nodeSelectors", &list),
            Err("spec.nodeSelectors[1].matchExpressions[0]: operator \"in\" is not In, NotIn, Exists or DoesNotExist".into())
        );
    }

    #[test]
    fn a_selector_that_cannot_be_evaluated_matches_nothing() {
        let labels = BTreeMap::from([("zone".to_string(), "a".to_string())]);
        assert!(matches(&with("In", Some(vec!["a"])), &labels));
        assert!(!matches(&with("In", Some(vec!["b"])), &labels));
        assert!(matches(&with("NotIn", Some(vec!["b"])), &labels));
        assert!(matches(&LabelSelector::default(), &labels));
        assert!(!matches(&with("NotIn", None), &labels));
        assert!(!matches(&with("Exists", Some(vec!["a"])), &labels));
        assert!(!matches(&with("Equals", Some(vec!["a"])), &labels));
    }
}
