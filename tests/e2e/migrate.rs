//! MetalLB migration output against the lab's real API server.
