//! registryctl: the command-line front end of deckhouse-registry.
mod store_cmd;

fn main() {}
