//! Checks a line against the ECS 9.4 field list (`tests/fixtures/schemas/ecs`).
