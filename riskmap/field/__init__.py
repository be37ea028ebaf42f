"""The weekly field loop: plan, history, ingest, weekly summary (no writers)."""
