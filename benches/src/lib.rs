//! Benchmarks of deckhouse-registry; the runnable part is `benches/store.rs`
//! (`cargo bench -p registry-benches --bench store`).
