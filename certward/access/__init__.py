"""certward.access: principals (API identities), their grants, and the audit log."""
