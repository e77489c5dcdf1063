//! The ferrolb API (`ferrolb.io/v1alpha1`): CRD types, their schema validation and what the
//! fields mean (address ranges, selection, annotation names).
//!
//! This crate holds no I/O and no controller logic: it is shared by the controller, the speaker
//! and the tests, and the committed CRD YAML is generated from it.
