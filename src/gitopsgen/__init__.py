"""gitopsgen: compile tenants.yaml into a deterministic Flux + vcluster GitOps tree."""

__version__ = "0.1.0"
