"""The claims: one module per document topic, each a set of pytest checks of claims from ../shared/CLAIMS.md."""
