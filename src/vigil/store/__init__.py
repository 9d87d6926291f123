"""The fleet store: SQLAlchemy 2 models, one repository per aggregate, Alembic migrations.

SQLite in WAL mode by default (one file beside the server's settings), PostgreSQL (psycopg 3) when a fleet
outgrows one machine; the same code and the same tests run on both.
"""
