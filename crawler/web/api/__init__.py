"""The JSON API under /api/v1, one router per area, and its OpenAPI docs page."""
