//! Prints every ferrolb CRD as multi-document YAML.
//!
//! `cargo run -p ferrolb-crds --bin crdgen > crds/yaml/crds.yaml`

fn main() {
    print!("{}", ferrolb_crds::crds_yaml());
}
