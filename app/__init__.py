"""GrantFlow: approvals for the public data authorized operation regime."""
