"""Server-rendered pages, one router per area (not part of the OpenAPI document)."""
