//! Switch rules. Work in progress.
