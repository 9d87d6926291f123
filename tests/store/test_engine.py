"""The store's engines: SQLite in WAL mode with foreign keys, PostgreSQL, aware UTC times on both."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Integer, String, inspect, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from vigil.store.base import Base
from vigil.store.engine import make_engine, session_factory, transaction


class _ProbeBase(DeclarativeBase):
    """Apart from the store's models: this table is no part of the schema Alembic compares."""

    type_annotation_map = Base.type_annotation_map


class _Probe(_ProbeBase):
    __tablename__ = "engine_probe"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime]


@pytest.fixture
def probe_engine(database_url):
    engine = make_engine(database_url)
    _Probe.__table__.create(engine)
    yield engine
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'vigil.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_times_come_back_aware_and_in_utc_on_both_backends(probe_engine):
    sessions = session_factory(probe_engine)
    paris = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with transaction(sessions) as session:
        session.add(_Probe(id=1, name="x", at=paris))
    with Session(probe_engine) as session:
        at = session.scalars(select(_Probe.at)).one()
    assert at == paris and at.tzinfo == dt.UTC


def test_a_naive_time_is_refused(probe_engine):
    sessions = session_factory(probe_engine)
    with pytest.raises(Exception, match="naive datetime"), transaction(sessions) as session:
        session.add(_Probe(id=2, name="y", at=dt.datetime(2026, 1, 1)))
        session.flush()
    assert inspect(probe_engine).has_table("engine_probe")


def test_a_failed_unit_of_work_leaves_nothing(probe_engine):
    sessions = session_factory(probe_engine)
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        session.add(_Probe(id=3, name="z", at=dt.datetime.now(dt.UTC)))
        session.flush()
        raise RuntimeError("boom")
    with Session(probe_engine) as session:
        assert session.scalars(select(_Probe)).all() == []


def test_an_unknown_database_is_named(tmp_path):
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        make_engine("mysql://localhost/x")
