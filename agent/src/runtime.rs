//! Shutdown plumbing and the agent's top-level flows (to be written).
