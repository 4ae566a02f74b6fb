//! Content-addressed blob store (an OCI image layout on disk). Work in progress.
