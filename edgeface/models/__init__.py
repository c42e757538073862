"""Model packs shipped with edgeface (data only; see README.md here)."""
