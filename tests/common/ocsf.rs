//! Checks a line against the official OCSF 1.8.0 class schemas (`tests/fixtures/schemas`).
