"""Storage: engine and sessions, ORM models, Alembic migrations, queries that never commit."""
